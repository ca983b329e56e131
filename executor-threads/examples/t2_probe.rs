//! Probe: does submit-then-wait ever start a second thread?
use executor_core::Submit;
use executor_threads::ThreadPool;

fn main() {
    for round in 0..20 {
        let pool = ThreadPool::builder().max_workers(2).build().unwrap();
        pool.submit(|| 0).unwrap().wait();
        if pool.thread_count() != 1 {
            println!("round {round} warm-up: {} threads", pool.thread_count());
        }
        for i in 0..10_000 {
            assert_eq!(pool.submit(move || i).unwrap().result(), Ok(i));
            if pool.thread_count() != 1 {
                println!(
                    "round {round} iteration {i}: {} threads",
                    pool.thread_count()
                );
                break;
            }
        }
    }
}
