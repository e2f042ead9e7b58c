//! Native libraries the backends load (Vulkan and Wayland loaders, drivers) print to file
//! descriptor 2 directly, which would scribble over the screen: while the UI runs, fd 2 points at
//! /dev/null, and it is put back before anything is printed on exit or panic. The descriptor calls
//! are rustix's safe `dup` / `dup2_stderr` (no hand-declared `extern "C"`).

#[cfg(unix)]
mod imp {
    use std::os::fd::OwnedFd;
    use std::sync::{Mutex, PoisonError};

    /// The real stderr while fd 2 is redirected.
    static SAVED: Mutex<Option<OwnedFd>> = Mutex::new(None);

    /// Points fd 2 at /dev/null, keeping a duplicate of the real stderr. Best effort: on any
    /// failure stderr stays as it was. A second call while silenced does nothing.
    pub fn silence() {
        let mut saved = SAVED.lock().unwrap_or_else(PoisonError::into_inner);
        if saved.is_some() {
            return;
        }
        let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else { return };
        let Ok(real) = rustix::io::dup(std::io::stderr()) else { return };
        if rustix::stdio::dup2_stderr(&null).is_ok() {
            *saved = Some(real);
        }
    }

    /// Gives fd 2 back to the real stderr (closing the duplicate). Safe to call when not silenced.
    pub fn restore() {
        let mut saved = SAVED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(real) = saved.take() {
            let _ = rustix::stdio::dup2_stderr(&real);
        }
    }

    #[cfg(test)]
    mod tests {
        use std::io::{Read, Seek, Write};
        use std::os::fd::AsFd;

        /// Runs `f` with fd 2 pointing at a temporary file, restores it, returns what fd 2 received.
        fn capture_fd2(f: impl FnOnce()) -> String {
            let mut file = tempfile::tempfile().unwrap();
            let real = rustix::io::dup(std::io::stderr()).unwrap();
            rustix::stdio::dup2_stderr(file.as_fd()).unwrap();
            f();
            rustix::stdio::dup2_stderr(&real).unwrap();
            let mut out = String::new();
            file.rewind().unwrap();
            file.read_to_string(&mut out).unwrap();
            out
        }

        #[test]
        fn silence_sends_fd2_to_dev_null_and_restore_gives_it_back() {
            let got = capture_fd2(|| {
                let mut e = std::io::stderr();
                e.write_all(b"before|").unwrap();
                super::silence();
                super::silence(); // twice: still one saved descriptor
                e.write_all(b"hidden|").unwrap();
                super::restore();
                super::restore(); // twice: harmless
                e.write_all(b"after").unwrap();
            });
            assert_eq!(got, "before|after");
        }
    }
}

#[cfg(not(unix))]
mod imp {
    pub fn silence() {}
    pub fn restore() {}
}

pub use imp::{restore, silence};
