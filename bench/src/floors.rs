//! The raw floors: what the hardware and the OS charge before any executor adds its own cost.
//!
//! - a crossbeam ping-pong between two threads (T2's floor: one hand-off each way);
//! - a blocking ipc-channel ping-pong between two processes (P2's floor);
//! - 1 MiB byte messages over an ipc-channel bytes channel to another process (P5's floor);
//! - starting one child process (this binary) and reaping it, with and without one ipc round
//!   trip (P4's floor).
//!
//! The child side of each lives here too: `executor-bench __child <mode> ...` (see `main.rs`).

use std::process::{Child, Command, Stdio};
use std::time::Instant;

use ipc_channel::ipc::{
    self, IpcBytesReceiver, IpcBytesSender, IpcOneShotServer, IpcReceiver, IpcSender,
};

/// Seconds for `rounds` round trips of a `u64` between this thread and an echo thread.
pub fn crossbeam_ping_pong(rounds: usize) -> f64 {
    let (to_echo, echo_inbox) = crossbeam_channel::bounded::<usize>(1);
    let (to_main, main_inbox) = crossbeam_channel::bounded::<usize>(1);
    let echo = std::thread::spawn(move || {
        for value in echo_inbox {
            if to_main.send(value).is_err() {
                break;
            }
        }
    });
    // One round trip first, so the echo thread is running before the clock starts.
    to_echo.send(0).expect("echo thread alive");
    main_inbox.recv().expect("echo thread alive");
    let started = Instant::now();
    for round in 0..rounds {
        to_echo.send(round).expect("echo thread alive");
        let back = main_inbox.recv().expect("echo thread alive");
        debug_assert_eq!(back, round);
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(to_echo);
    echo.join().expect("echo thread does not panic");
    elapsed
}

/// What the echo child hands back at start-up: where to send, where to read.
type EchoEnds = (IpcSender<u64>, IpcReceiver<u64>);
/// What the bytes child hands back: where to send the payloads, where to read their lengths.
type BytesEnds = (IpcBytesSender, IpcReceiver<u64>);

/// This binary, started as a child in `mode`, connected to a one-shot server of type `Ends`.
fn start_child<Ends>(mode: &str) -> Result<(Child, Ends), String>
where
    Ends: serde::Serialize + for<'de> serde::Deserialize<'de>,
{
    let (server, name) =
        IpcOneShotServer::<Ends>::new().map_err(|error| format!("ipc server: {error}"))?;
    let child = Command::new(current_exe()?)
        .args(["__child", mode, &name])
        .stdin(Stdio::null())
        .spawn()
        .map_err(|error| format!("cannot start the {mode} child: {error}"))?;
    let (_, ends) = server
        .accept()
        .map_err(|error| format!("the {mode} child did not connect: {error:?}"))?;
    Ok((child, ends))
}

fn current_exe() -> Result<std::path::PathBuf, String> {
    std::env::current_exe().map_err(|error| format!("cannot find this binary: {error}"))
}

fn reap(mut child: Child) -> Result<(), String> {
    let status = child
        .wait()
        .map_err(|error| format!("waiting for a child: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("child failed: {status}"))
    }
}

/// Seconds for `rounds` blocking round trips of a `u64` with a child process.
pub fn ipc_ping_pong(rounds: usize) -> Result<f64, String> {
    let (child, (to_child, from_child)) = start_child::<EchoEnds>("ipc-echo")?;
    let trip = |value: u64| -> Result<u64, String> {
        to_child
            .send(value)
            .map_err(|error| format!("send: {error:?}"))?;
        from_child
            .recv()
            .map_err(|error| format!("recv: {error:?}"))
    };
    trip(0)?;
    let started = Instant::now();
    for round in 0..rounds as u64 {
        let back = trip(round)?;
        debug_assert_eq!(back, round);
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop((to_child, from_child));
    reap(child)?;
    Ok(elapsed)
}

/// Seconds to send `count` payloads of `bytes` bytes to a child over an ipc-channel bytes
/// channel and read back each length.
pub fn ipc_bytes(count: usize, bytes: usize) -> Result<f64, String> {
    let (child, (to_child, from_child)) = start_child::<BytesEnds>("ipc-bytes")?;
    let payload = vec![0xA5u8; bytes];
    to_child
        .send(&payload[..1])
        .map_err(|error| format!("send: {error}"))?;
    from_child
        .recv()
        .map_err(|error| format!("recv: {error:?}"))?;
    let started = Instant::now();
    // The child answers as it reads; its small answers fit in the socket buffer meanwhile.
    for _ in 0..count {
        to_child
            .send(&payload)
            .map_err(|error| format!("send: {error}"))?;
    }
    let mut total = 0;
    for _ in 0..count {
        total += from_child
            .recv()
            .map_err(|error| format!("recv: {error:?}"))?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    if total != (count * bytes) as u64 {
        return Err(format!("the child counted {total} bytes"));
    }
    drop((to_child, from_child));
    reap(child)?;
    Ok(elapsed)
}

/// Seconds to start this binary as a child that exits at once, and reap it.
pub fn child_start() -> Result<f64, String> {
    let exe = current_exe()?;
    let started = Instant::now();
    let status = Command::new(exe)
        .args(["__child", "exit"])
        .stdin(Stdio::null())
        .status()
        .map_err(|error| format!("cannot start a child: {error}"))?;
    let elapsed = started.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("child failed: {status}"));
    }
    Ok(elapsed)
}

/// P4's floor: start one child, connect, one round trip (first figure); then close the channel
/// and reap the child (second figure). Both in seconds from the start.
pub fn child_round_trip() -> Result<Vec<f64>, String> {
    let started = Instant::now();
    let (child, (to_child, from_child)) = start_child::<EchoEnds>("ipc-echo")?;
    to_child
        .send(1)
        .map_err(|error| format!("send: {error:?}"))?;
    from_child
        .recv()
        .map_err(|error| format!("recv: {error:?}"))?;
    let first = started.elapsed().as_secs_f64();
    drop((to_child, from_child));
    reap(child)?;
    Ok(vec![first, started.elapsed().as_secs_f64()])
}

/// The child side of `ipc-echo`: sends every number back until the parent hangs up.
pub fn echo_child(server: &str) -> Result<(), String> {
    let bootstrap = IpcSender::<EchoEnds>::connect(server.to_owned())
        .map_err(|error| format!("connect: {error}"))?;
    let (to_child, inbox) = ipc::channel::<u64>().map_err(|error| error.to_string())?;
    let (outbox, from_child) = ipc::channel::<u64>().map_err(|error| error.to_string())?;
    bootstrap
        .send((to_child, from_child))
        .map_err(|error| format!("handshake: {error:?}"))?;
    while let Ok(value) = inbox.recv() {
        if outbox.send(value).is_err() {
            break;
        }
    }
    Ok(())
}

/// The child side of `ipc-bytes`: answers every payload with its length.
pub fn bytes_child(server: &str) -> Result<(), String> {
    let bootstrap = IpcSender::<BytesEnds>::connect(server.to_owned())
        .map_err(|error| format!("connect: {error}"))?;
    let (to_child, inbox): (IpcBytesSender, IpcBytesReceiver) =
        ipc::bytes_channel().map_err(|error| error.to_string())?;
    let (outbox, from_child) = ipc::channel::<u64>().map_err(|error| error.to_string())?;
    bootstrap
        .send((to_child, from_child))
        .map_err(|error| format!("handshake: {error:?}"))?;
    while let Ok(payload) = inbox.recv() {
        if outbox.send(payload.len() as u64).is_err() {
            break;
        }
    }
    Ok(())
}
