//! The Python docs' `ThreadPoolExecutor` example: many blocking I/O calls at once.
//!
//! There is no internet here, so the example starts a small HTTP server on loopback and fetches
//! pages from it with plain blocking sockets, five at a time.
//!
//! `cargo run --release --example blocking_io`

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use concurrent_futures::{Executor, Shutdown, Submit, ThreadPool, as_completed, fallible};

/// Serves `GET /<n>` with an `n`-kilobyte body, one thread per connection.
fn start_server() -> io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?.to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    Ok(address)
}

fn serve(mut stream: TcpStream) -> io::Result<()> {
    let mut request_line = String::new();
    BufReader::new(&stream).read_line(&mut request_line)?;
    let kilobytes: usize = request_line
        .split_whitespace()
        .nth(1)
        .and_then(|p| p[1..].parse().ok())
        .unwrap_or(0);
    // Pretend to be a slow remote site, so the parallelism shows.
    std::thread::sleep(Duration::from_millis(50));
    let body = "x".repeat(kilobytes * 1024);
    write!(
        stream,
        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Downloads a page and returns its body length: the work we hand to the pool.
fn load_url(address: &str, path: &str, timeout: Duration) -> io::Result<usize> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let header_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(0)
        + 4;
    Ok(response.len().saturating_sub(header_end))
}

fn main() -> io::Result<()> {
    let address = start_server()?;
    let urls: Vec<String> = [1, 64, 16, 256, 4, 128, 32, 8]
        .iter()
        .map(|k| format!("/{k}"))
        .collect();

    let pool = ThreadPool::builder()
        .max_workers(5)
        .thread_name_prefix("fetch")
        .build()
        .unwrap();
    // (url, future) pairs: the label travels with its future through as_completed.
    let jobs: Vec<_> = urls
        .iter()
        .map(|url| {
            let (address, path) = (address.clone(), url.clone());
            let future = pool
                .submit(fallible(move || {
                    load_url(&address, &path, Duration::from_secs(5))
                }))
                .expect("the pool is running");
            (url, future)
        })
        .collect();

    for (url, future) in as_completed(jobs) {
        // io::Error is not Clone: take the outcome out of the (only) handle.
        match future.join() {
            Ok(bytes) => println!("{url:>5} page is {bytes} bytes"),
            Err(error) => println!("{url:>5} generated an exception: {error}"),
        }
    }
    pool.shutdown(Shutdown::default());
    Ok(())
}
