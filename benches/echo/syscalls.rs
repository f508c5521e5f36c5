//! System calls of the server thread, counted by `perf stat -t TID -e
//! raw_syscalls:sys_enter` over exactly the measured window: perf starts
//! with its counters disabled and is switched on and off through its
//! control FIFOs. Counting (unlike `strace` or `perf trace`) does not slow
//! the server down noticeably, so the figure is taken at full speed.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A `perf stat` attached to one thread, counting system calls.
pub(crate) struct SyscallCounter {
    child: Child,
    ctl: File,
    ack: BufReader<File>,
    dir: PathBuf,
}

/// Whether `perf stat` can count system call tracepoints on this machine.
pub(crate) fn available() -> bool {
    Command::new("perf")
        .args(["stat", "-x,", "-e", "raw_syscalls:sys_enter", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl SyscallCounter {
    /// Attaches to the threads `tids` (comma-separated), counters off.
    pub(crate) fn attach(tids: &str) -> SyscallCounter {
        let dir = std::env::temp_dir().join(format!("echo-bench-perf-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (ctl_path, ack_path) = (dir.join("ctl"), dir.join("ack"));
        for p in [&ctl_path, &ack_path] {
            let ok = Command::new("mkfifo").arg(p).status().unwrap().success();
            assert!(ok, "mkfifo {}", p.display());
        }
        let child = Command::new("perf")
            .args(["stat", "-x,", "-e", "raw_syscalls:sys_enter", "-D", "-1"])
            .arg(format!(
                "--control=fifo:{},{}",
                ctl_path.display(),
                ack_path.display()
            ))
            .args(["-t", tids])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning perf");
        // perf opens the control FIFO read-write and then the ack FIFO for
        // writing, so these opens meet perf's.
        let ctl = OpenOptions::new().write(true).open(&ctl_path).unwrap();
        let ack = BufReader::new(File::open(&ack_path).unwrap());
        SyscallCounter {
            child,
            ctl,
            ack,
            dir,
        }
    }

    fn command(&mut self, cmd: &str) {
        writeln!(self.ctl, "{cmd}").unwrap();
        let mut line = String::new();
        self.ack.read_line(&mut line).unwrap();
        // perf sends "ack\n" and a NUL, which the next read then starts with.
        let answer = line.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        assert_eq!(answer, "ack", "perf's answer to {cmd}");
    }

    /// Starts counting.
    pub(crate) fn enable(&mut self) {
        self.command("enable");
    }

    /// Stops counting.
    pub(crate) fn disable(&mut self) {
        self.command("disable");
    }

    /// Ends perf and returns the count.
    pub(crate) fn finish(mut self) -> u64 {
        // SAFETY: kill has no memory-safety preconditions; the pid is our
        // own child's, not yet waited for.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        err.lines()
            .find(|l| l.contains("raw_syscalls:sys_enter"))
            .and_then(|l| l.split(',').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no count in perf's output: {err}"))
    }
}
