//! Loom model of the rings' protocol (`src/ring.rs`): records published by the producer reach
//! the consumer whole and in order across the wrap, the consumer never reads a byte the
//! producer has not published (loom checks every byte as a cell), the producer never
//! overwrites a byte the consumer has not released, and a consumer that announces it sleeps is
//! always woken: no record is left unseen while it sleeps.
//!
//! Run with `cargo xtask loom`, or:
//! `RUSTFLAGS="--cfg executor_loom" cargo test -p concurrent-futures-process --release --test loom_ring`
//!
//! The socket the real consumer sleeps on is modelled by a loom channel of wake-ups; a lost
//! wake-up shows as loom's deadlock error.

#[cfg(executor_loom)]
mod tests {
    use concurrent_futures_process::ring::{Kind, PushError, Rings};
    use loom::sync::mpsc::channel;
    use loom::thread;

    /// `count` records of `len` bytes each through a ring of `capacity`: the consumer polls,
    /// announces sleep and waits for a wake-up when the ring is empty; the producer waits for
    /// room when it is full.
    fn stream(capacity: usize, count: u8, len: usize) {
        loom::model(move || {
            let rings = Rings::for_model(capacity);
            let (mut producer, mut consumer) = rings.model_ends();
            let (wake, woken) = channel::<()>();
            let writer = thread::spawn(move || {
                let _report = Report;
                for n in 0..count {
                    let record = vec![n; len];
                    loop {
                        match producer.push(Kind::Data, &record) {
                            Ok(must_wake) => {
                                if must_wake {
                                    wake.send(()).unwrap();
                                }
                                break;
                            }
                            Err(PushError::Full) => thread::yield_now(),
                            Err(PushError::Corrupt) => panic!("an impossible head"),
                        }
                    }
                }
            });
            let mut out = Vec::new();
            for n in 0..count {
                loop {
                    match consumer.pop(&mut out) {
                        Ok(Some(Kind::Data)) => break,
                        Ok(other) if other.is_some() => panic!("{other:?}"),
                        Ok(_) => {}
                        Err(what) => panic!("{what}"),
                    }
                    if consumer.announce_sleep() {
                        // Asleep on the "socket": only a wake-up ends it.
                        woken.recv().unwrap();
                    }
                }
                assert_eq!(out, vec![n; len], "record {n} whole and in order");
            }
            writer.join().unwrap();
        });
    }

    struct Report;
    impl Drop for Report {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("the writer panicked");
            }
        }
    }

    /// Two records: the sleep/wake handshake against one publication each.
    #[test]
    fn a_sleeping_consumer_is_always_woken() {
        stream(16, 2, 3);
    }

    /// Records that wrap round a ring that fills: the producer must wait for the consumer's
    /// release, and no byte is read before it is published or written before it is released.
    #[test]
    fn records_wrap_and_wait_for_room() {
        stream(16, 3, 5);
    }
}
