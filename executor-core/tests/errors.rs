//! Every error type prints each message of its chain once, and is an `Error + Send + Sync`
//! wherever `?` needs it to be (issue #11, points 2 and 3).

use std::cell::Cell;
use std::error::Error;
use std::fmt;
use std::io;
use std::time::Duration;

use concurrent_futures_core::{
    AsCompletedTimeout, BackendError, BrokenExecutor, BuildError, BuildErrorKind, CodecError,
    CodecStage, PanicInfo, PanicLocation, Rejected, State, SubmitError, TaskError, WorkerExit,
    backend::InvalidStateError,
};

/// The Display of each layer of `error`'s chain, outermost first.
fn layers(error: &dyn Error) -> Vec<String> {
    let mut layers = vec![error.to_string()];
    let mut next = error.source();
    while let Some(layer) = next {
        layers.push(layer.to_string());
        next = layer.source();
    }
    layers
}

/// What anyhow's `{:#}` prints: the layers joined with ": ".
fn report(error: &dyn Error) -> String {
    layers(error).join(": ")
}

/// `Err` naming the first layer whose Display repeats a message of a layer below it.
fn check_each_message_once(error: &dyn Error) -> Result<(), String> {
    let layers = layers(error);
    for (i, outer) in layers.iter().enumerate() {
        assert!(!outer.is_empty(), "layer {i} of {layers:?} prints nothing");
        for inner in &layers[i + 1..] {
            if outer.contains(inner.as_str()) {
                return Err(format!(
                    "{outer:?} repeats {inner:?} (the chain is {layers:?})"
                ));
            }
        }
    }
    Ok(())
}

fn assert_each_message_once(error: &dyn Error) {
    if let Err(message) = check_each_message_once(error) {
        panic!("{message}");
    }
}

/// An error with a cause, like a config parser's.
#[derive(Debug, Clone)]
struct BadConfig(std::num::ParseIntError);

impl fmt::Display for BadConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bad config value on line 3")
    }
}

impl Error for BadConfig {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

/// The example: an I/O error whose cause has a cause.
fn bad_config() -> io::Error {
    let cause = "x".parse::<u32>().unwrap_err();
    io::Error::new(io::ErrorKind::InvalidData, BadConfig(cause))
}

/// One of every variant, with `io::Error` as the task's error.
fn every_task_error() -> Vec<TaskError<io::Error>> {
    let location = PanicLocation {
        file: "src/main.rs".into(),
        line: 3,
        column: 7,
    };
    vec![
        TaskError::Failed(bad_config()),
        TaskError::Panicked(PanicInfo::new("boom", Some(location))),
        TaskError::Panicked(PanicInfo::new("boom", None)),
        TaskError::Cancelled,
        TaskError::Timeout,
        TaskError::Expired {
            limit: Duration::from_secs(2),
        },
        TaskError::WorkerLost(WorkerExit::new(42, Some(3), None)),
        TaskError::WorkerLost(WorkerExit::new(42, None, Some(9))),
        TaskError::WorkerLost(
            WorkerExit::new(42, None, Some(9))
                .with_reason("it sent a message that did not decode: unexpected end"),
        ),
        TaskError::Broken(BrokenExecutor::new("the initializer failed: no database")),
        TaskError::Rejected(Rejected::ShutDown),
        TaskError::Rejected(Rejected::Broken(BrokenExecutor::new("a worker died"))),
        TaskError::Codec(CodecError {
            stage: CodecStage::DecodeResult,
            message: "unexpected end of input".into(),
        }),
        TaskError::Abandoned,
        TaskError::Taken,
        TaskError::Backend(BackendError::new("no such task")),
        TaskError::Backend(BackendError::with_source(
            "cannot reach rank 2",
            bad_config(),
        )),
    ]
}

#[test]
fn the_helper_catches_a_wrapper_that_prints_its_source_twice() {
    #[derive(Debug)]
    struct Twice(io::Error);
    impl fmt::Display for Twice {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "task failed: {}", self.0)
        }
    }
    impl Error for Twice {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }
    let error = Twice(io::Error::other("disk full"));
    assert!(check_each_message_once(&error).is_err());
    assert!(check_each_message_once(&io::Error::other("disk full")).is_ok());
}

#[test]
fn every_task_error_variant_prints_each_message_once() {
    for error in every_task_error() {
        assert_each_message_once(&error);
    }
}

#[test]
fn every_chained_task_error_variant_prints_each_message_once() {
    for error in every_task_error() {
        assert_each_message_once(&error.chained());
    }
}

#[test]
fn wrapping_variants_print_the_wrapped_message_and_forward_its_source() {
    let broken = BrokenExecutor::new("the initializer failed");
    let error = TaskError::<String>::Broken(broken.clone());
    assert_eq!(layers(&error), [broken.to_string()]);

    let exit = WorkerExit::new(7, None, Some(9));
    let error = TaskError::<String>::WorkerLost(exit.clone());
    assert_eq!(layers(&error), [exit.to_string()]);

    let backend = BackendError::with_source("cannot reach rank 2", bad_config());
    let error = TaskError::<String>::Backend(backend);
    assert_eq!(
        report(&error),
        "cannot reach rank 2: bad config value on line 3: invalid digit found in string"
    );
}

#[test]
fn a_failed_task_keeps_its_message_in_display() {
    let error: TaskError<io::Error> = TaskError::Failed(bad_config());
    assert_eq!(report(&error), "task failed: bad config value on line 3");

    let error: TaskError<String> = TaskError::Failed("disk full".into());
    assert_eq!(report(&error), "task failed: disk full");
}

#[test]
fn a_chained_failure_renders_each_message_of_an_io_error_chain_once() {
    let error = TaskError::Failed(bad_config()).chained();
    assert_eq!(
        report(&error),
        "task failed: bad config value on line 3: invalid digit found in string"
    );
    assert!(error.source().unwrap().is::<io::Error>());

    let anyhow = anyhow::Error::from(TaskError::Failed(bad_config()).chained());
    assert_eq!(
        format!("{anyhow:#}"),
        "task failed: bad config value on line 3: invalid digit found in string"
    );
}

#[test]
fn anyhow_renders_each_layer_once() {
    let broken = anyhow::Error::from(TaskError::<String>::Broken(BrokenExecutor::new("no db")));
    assert_eq!(format!("{broken:#}"), "the executor is broken: no db");

    let refused = anyhow::Error::from(SubmitError::new(
        Rejected::Broken(BrokenExecutor::new("no db")),
        || 1,
    ));
    assert_eq!(
        format!("{refused:#}"),
        "task refused: the executor is broken: no db"
    );
}

#[test]
fn submit_errors_print_each_message_once() {
    for reason in [
        Rejected::ShutDown,
        Rejected::Broken(BrokenExecutor::new("a worker died")),
    ] {
        assert_each_message_once(&reason);
        let error = SubmitError::new(reason.clone(), "task");
        assert_each_message_once(&error);
        assert!(error.to_string().contains(&reason.to_string()));
        assert_eq!(error.into_parts(), (reason, "task"));
    }
}

#[test]
fn the_other_error_types_print_each_message_once() {
    assert_each_message_once(&BrokenExecutor::new("no db"));
    assert_each_message_once(&WorkerExit::new(1, Some(0), None));
    assert_each_message_once(&CodecError {
        stage: CodecStage::EncodeTask,
        message: "too deep".into(),
    });
    assert_each_message_once(&BackendError::with_source(
        "cannot reach rank 2",
        bad_config(),
    ));
    assert_each_message_once(&InvalidStateError {
        state: State::Finished,
        operation: "start",
    });
    assert_each_message_once(&AsCompletedTimeout {
        unfinished: 1,
        total: 2,
    });
}

#[test]
fn build_errors_print_their_message_and_chain_their_source() {
    let plain = BuildError::new(
        BuildErrorKind::InvalidConfig,
        "max_workers must be greater than 0",
    );
    assert_eq!(plain.kind(), BuildErrorKind::InvalidConfig);
    assert_eq!(report(&plain), "max_workers must be greater than 0");
    assert_each_message_once(&plain);

    let spawn = BuildError::with_source(
        BuildErrorKind::Spawn,
        "could not start a worker process",
        bad_config(),
    );
    assert_eq!(spawn.kind(), BuildErrorKind::Spawn);
    assert_eq!(
        report(&spawn),
        "could not start a worker process: bad config value on line 3: invalid digit found in string"
    );
    assert_each_message_once(&spawn);
}

fn is_error<T: Error + Send + Sync + 'static>() {}

fn is_error_like<T: Error + Send + Sync + 'static>(_: &T) {}

#[test]
fn task_errors_are_send_sync_errors_for_any_displayable_error_type() {
    is_error::<TaskError<String>>();
    is_error::<TaskError<&'static str>>();
    is_error::<TaskError<io::Error>>();
    is_error::<TaskError<anyhow::Error>>();
    is_error::<TaskError>();
    is_error::<BuildError>();

    let error = TaskError::Failed(anyhow::anyhow!("no db"));
    assert_eq!(
        format!("{:#}", anyhow::Error::from(error)),
        "task failed: no db"
    );
}

#[test]
fn a_refused_task_that_is_send_but_not_sync_is_a_send_sync_error() {
    let cell = Cell::new(5_u32);
    let error = SubmitError::new(Rejected::ShutDown, move || cell.get());
    is_error_like(&error);

    assert_eq!(error.into_task()(), 5, "the task is handed back by value");

    let cell = Cell::new(7_u32);
    let error = SubmitError::new(Rejected::ShutDown, move || cell.get());
    let anyhow = anyhow::Error::from(error);
    assert_eq!(
        anyhow.to_string(),
        "task refused: cannot schedule new tasks after shutdown"
    );
}

#[test]
fn an_anyhow_failure_keeps_its_context_chain() {
    let error = TaskError::Failed(anyhow::anyhow!("inner").context("outer"));
    assert_eq!(error.to_string(), "task failed: outer: inner");
    assert_each_message_once(&error);
    let report = format!("{:#}", anyhow::Error::from(error));
    assert_eq!(report, "task failed: outer: inner");
}
