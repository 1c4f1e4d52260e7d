//! Bodies that are not JSON cost what their size says (issue 20 section 3): decoding a
//! form or multipart body four times larger takes at most twice four times as long
//! (linear is four, a quadratic decoder sixteen),
//! whatever its shape (one name repeated, every name new, many tiny parts). Time is this
//! thread's CPU time, the best of several runs, so a loaded machine skews it little.

use std::time::Duration;

mod cpu;
use cpu::cpu_time;

use edgehook::collect::body::{BodyKind, decode};
use futures_executor::block_on;

const RUNS: usize = 5;
/// The smaller body; the larger is four times this.
const SMALL: usize = 256 * 1024;

fn best(kind: BodyKind, content_type: &str, body: &[u8]) -> Duration {
    (0..RUNS)
        .map(|_| {
            let start = cpu_time();
            let d = block_on(decode(kind, Some(content_type), body, false, "c", "ID")).unwrap();
            std::hint::black_box(d);
            cpu_time().saturating_sub(start)
        })
        .min()
        .unwrap()
}

/// A form body of about `size` bytes whose field `i` is `name(i)=v`.
fn form(size: usize, name: impl Fn(usize) -> String) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 64);
    let mut i = 0;
    while out.len() < size {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(format!("{}=value%20{i}", name(i)).as_bytes());
        i += 1;
    }
    out
}

/// A multipart body of about `size` bytes in parts of about `part` bytes, every fourth
/// a file.
fn multipart(size: usize, part: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 256);
    let mut i = 0;
    while out.len() < size {
        let file = if i % 4 == 3 {
            "; filename=\"f.bin\""
        } else {
            ""
        };
        out.extend_from_slice(
            format!(
                "--BOUNDARY\r\nContent-Disposition: form-data; name=\"f{}\"{file}\r\n\r\n",
                i % 50
            )
            .as_bytes(),
        );
        out.extend(std::iter::repeat_n(b'x', part));
        out.extend_from_slice(b"\r\n");
        i += 1;
    }
    out.extend_from_slice(b"--BOUNDARY--\r\n");
    out
}

fn check(what: &str, kind: BodyKind, content_type: &str, make: impl Fn(usize) -> Vec<u8>) {
    let (small, large) = (make(SMALL), make(4 * SMALL));
    let (t1, t4) = (
        best(kind, content_type, &small),
        best(kind, content_type, &large),
    );
    let ratio = t4.as_secs_f64() / t1.as_secs_f64();
    println!("{what}: 256 KiB {t1:?}, 1 MiB {t4:?}, ratio {ratio:.2}");
    // Linear is 4; quadratic would be 16. Twice linear leaves room for caches and noise.
    assert!(
        ratio < 8.0,
        "{what}: 4x the body took {ratio:.1}x the time ({t1:?} -> {t4:?})"
    );
}

#[test]
fn form_and_multipart_bodies_decode_in_linear_time() {
    let urlencoded = "application/x-www-form-urlencoded";
    check("form, one name repeated", BodyKind::Form, urlencoded, |n| {
        form(n, |_| "tag".into())
    });
    check("form, every name new", BodyKind::Form, urlencoded, |n| {
        form(n, |i| format!("field{i}"))
    });
    let mp = "multipart/form-data; boundary=BOUNDARY";
    check("multipart, tiny parts", BodyKind::Multipart, mp, |n| {
        multipart(n, 8)
    });
    check("multipart, 16 KiB parts", BodyKind::Multipart, mp, |n| {
        multipart(n, 16 * 1024)
    });
}
