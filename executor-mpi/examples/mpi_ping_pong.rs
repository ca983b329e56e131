//! The baseline for `mpi_round_trip`: a raw MPI ping-pong of a small message between rank 0
//! and rank 1 (blocking send and receive, no executor).
//!
//! ```text
//! cargo build --release -p concurrent-futures-mpi --example mpi_ping_pong
//! mpirun -n 2 target/release/examples/mpi_ping_pong
//! ```

use std::time::{Duration, Instant};

use mpi::point_to_point::{Destination, Source};
use mpi::topology::Communicator;

fn main() {
    let universe = mpi::initialize().expect("MPI initialises");
    let world = universe.world();
    if world.size() < 2 {
        eprintln!("mpi_ping_pong: run it with mpirun -n 2");
        return;
    }
    // About the size of a submitted call of a one-argument function and of its outcome.
    let message = [7u8; 24];
    let rounds = 2_200;
    match world.rank() {
        0 => {
            let peer = world.process_at_rank(1);
            let mut times: Vec<Duration> = (0..rounds)
                .map(|_| {
                    let started = Instant::now();
                    peer.send(&message[..]);
                    let (_echo, _) = peer.receive_vec::<u8>();
                    started.elapsed()
                })
                .skip(200)
                .collect();
            times.sort();
            println!(
                "raw MPI ping-pong of {} bytes: median {:.1?}, p90 {:.1?}",
                message.len(),
                times[times.len() / 2],
                times[times.len() * 9 / 10]
            );
        }
        1 => {
            let peer = world.process_at_rank(0);
            for _ in 0..rounds {
                let (echo, _) = peer.receive_vec::<u8>();
                peer.send(&echo[..]);
            }
        }
        _ => {}
    }
}
