//! MPI's dynamic processes, for spawned mode: `MPI_Comm_spawn` of this binary with errors
//! returned rather than fatal, and the intercommunicator a spawned worker finds to its parent.
//!
//! rsmpi's `Root::spawn` ignores `MPI_Comm_spawn`'s return code (with `MPI_ERRORS_RETURN` a
//! failed spawn leaves `MPI_COMM_NULL`, which it would wrap), so the call is made here.

use std::ffi::{CString, c_char, c_int};

use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::{Communicator, InterCommunicator, SimpleCommunicator};
use mpi::traits::FromRaw;

/// Makes MPI errors on `comm` return an error code instead of aborting the job.
pub(crate) fn errors_return<C: AsRaw<Raw = ffi::MPI_Comm>>(comm: &C) {
    // SAFETY: `comm` is a live communicator (borrowed), MPI is initialised (a communicator
    // exists), and `RSMPI_ERRORS_RETURN` is a predefined error handler.
    unsafe {
        ffi::MPI_Comm_set_errhandler(comm.as_raw(), ffi::RSMPI_ERRORS_RETURN);
    }
}

/// MPI's text for an error code.
pub(crate) fn error_string(code: c_int) -> String {
    let mut buffer = vec![0 as c_char; ffi::MPI_MAX_ERROR_STRING as usize + 1];
    let mut length: c_int = 0;
    // SAFETY: the buffer holds MPI_MAX_ERROR_STRING characters plus a terminator, as
    // MPI_Error_string requires, and `length` is a valid out-pointer.
    let status = unsafe { ffi::MPI_Error_string(code, buffer.as_mut_ptr(), &mut length) };
    if status != ffi::MPI_SUCCESS as c_int {
        return format!("MPI error code {code}");
    }
    let length = usize::try_from(length).unwrap_or(0).min(buffer.len());
    let bytes: Vec<u8> = buffer[..length].iter().map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Spawns `count` copies of this binary (same arguments) from this process alone
/// (`MPI_COMM_SELF`), and returns the intercommunicator to them; or MPI's reason.
pub(crate) fn spawn_this_binary(count: usize) -> Result<InterCommunicator, String> {
    let maxprocs = c_int::try_from(count).map_err(|_| format!("{count} workers are too many"))?;
    let program = std::env::current_exe()
        .map_err(|error| format!("cannot find this program's path: {error}"))?;
    let program = c_string(program.as_os_str())?;
    let mut args = std::env::args_os()
        .skip(1)
        .map(|arg| c_string(&arg))
        .collect::<Result<Vec<CString>, String>>()?;
    let mut argv: Vec<*mut c_char> = args
        .iter_mut()
        .map(|arg| arg.as_ptr().cast_mut())
        .chain(std::iter::once(std::ptr::null_mut()))
        .collect();
    let me = SimpleCommunicator::self_comm();
    errors_return(&me);
    errors_return(&SimpleCommunicator::world());
    let mut errcodes: Vec<c_int> = vec![ffi::MPI_SUCCESS as c_int; count];
    // SAFETY: MPI is initialised; `program` and every `argv` entry are NUL-terminated strings
    // that outlive the call (`args` keeps them), `argv` ends with a null pointer, MPI does not
    // write through the argument pointers (the C prototype's `char **` is not const, that is
    // all), `errcodes` has room for `maxprocs` codes, and `intercomm` is a valid out-pointer.
    let (status, intercomm) = unsafe {
        let mut intercomm = ffi::RSMPI_COMM_NULL;
        let status = ffi::MPI_Comm_spawn(
            program.as_ptr(),
            argv.as_mut_ptr(),
            maxprocs,
            ffi::RSMPI_INFO_NULL,
            0,
            me.as_raw(),
            &mut intercomm,
            errcodes.as_mut_ptr(),
        );
        (status, intercomm)
    };
    drop(args);
    if status != ffi::MPI_SUCCESS as c_int {
        return Err(error_string(status));
    }
    if let Some(&failed) = errcodes
        .iter()
        .find(|&&code| code != ffi::MPI_SUCCESS as c_int)
    {
        let started = errcodes
            .iter()
            .filter(|&&code| code == ffi::MPI_SUCCESS as c_int)
            .count();
        // The ones that did start are connected: let them go (they see no Hello answered and
        // time out, or are killed with the job).
        return Err(format!(
            "{started} of {count} workers started; the first failure: {}",
            error_string(failed)
        ));
    }
    // SAFETY: `MPI_Comm_spawn` succeeded, so `intercomm` is a live intercommunicator that
    // nothing else owns; the wrapper disconnects it when dropped.
    let children = unsafe { InterCommunicator::from_raw(intercomm) };
    errors_return(&children);
    Ok(children)
}

/// The intercommunicator to the process that spawned this one, if it was spawned.
pub(crate) fn parent() -> Option<InterCommunicator> {
    let parent = SimpleCommunicator::world().parent()?;
    errors_return(&parent);
    Some(parent)
}

fn c_string(text: &std::ffi::OsStr) -> Result<CString, String> {
    CString::new(text.to_string_lossy().as_bytes())
        .map_err(|_| format!("{} contains a NUL byte", text.to_string_lossy()))
}
