"""The grading child: the only place where a submission's code runs (instructor side).

grade.py starts this file once per job slot as a *template*: a process that imports
torch, numpy and the student-side modules once (the slow part, ~2-3 s) and then, for
every submission, forks a fresh child that

  1. (isolated mode) enters new mount, PID, network, IPC and UTS namespaces, so that it
     sees no other process, has no network, and gets its own empty /tmp and /dev/shm;
     becomes an unprivileged user without capabilities; gets memory, process-count,
     file-size and CPU limits;
  2. reads its job (the submission's defining code and the cases' inputs) from a file
     descriptor the parent sent, runs the code, and for every case writes
     rl_tests.observe(PPO, case).to_data() (plain data: what the student's functions
     returned) to a result descriptor that the parent reads, size-bounded.

This process never sees an expected value, a mistake's output, the hidden tests, the
reference solution, another submission or the output folder, and never writes a grade:
the parent judges. In isolated mode the template itself runs inside bubblewrap
(read-only Python environment and student modules only, no network, its own PID
namespace that dies with grade.py), so a child's namespaces are nested in the
template's. The namespace set-up below is the per-submission half that bubblewrap
cannot do for a pre-forked process; bubblewrap does the filesystem view.

The control protocol on the descriptor named on the command line (a SOCK_SEQPACKET
socket to the parent), one JSON message per packet:
  template -> parent  {"ready": true}  once the imports are done
  parent -> template  {"timeout": s, "memory_mb": m}  + SCM_RIGHTS [job_fd, result_fd]
  template -> parent  {"exit": code or null, "signal": n or null, "timed_out": bool}
This file is copied into the sandbox's read-only kit folder; it holds no secret.
"""

import ctypes
import ctypes.util
import io
import json
import linecache
import os
import random
import resource
import select
import signal
import socket
import sys
import tempfile
import time

KIT = os.path.dirname(os.path.abspath(__file__))
JOB_LIMIT = 64 * 2**20            # bytes of a job a child accepts
FILE_SIZE_LIMIT = 64 * 2**20      # largest file a submission may write
TMP_SIZE = '256m'                 # its private /tmp (tmpfs: counted against the host's memory)
SHM_SIZE = '64m'
PROCESS_LIMIT = 1                 # processes and threads of one submission (isolated mode): itself only, so that
                                  # its memory cap (per process) is the whole submission's

# Linux constants (linux/sched.h, linux/mount.h, linux/prctl.h)
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 1, 2, 4, 8, 32, 4096
MS_REC, MS_PRIVATE = 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 36, 38, 47, 4
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(ctypes.util.find_library('c') or None, use_errno=True) if sys.platform.startswith('linux') else None


class SetupError(Exception):
    """The sandbox of one child could not be set up (the child then refuses to run)."""


def _check(result, what):
    if result != 0:
        error = ctypes.get_errno()
        raise SetupError(f'{what} failed: {os.strerror(error)}')


def _prctl(option, argument=0):
    return _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(argument), ctypes.c_ulong(0), ctypes.c_ulong(0),
                       ctypes.c_ulong(0))


def _mount(source, target, fstype, flags, data=None):
    _check(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                       ctypes.c_ulong(flags), data and data.encode()), f'mount {target}')


class _CapHeader(ctypes.Structure):
    _fields_ = [('version', ctypes.c_uint32), ('pid', ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [('effective', ctypes.c_uint32), ('permitted', ctypes.c_uint32), ('inheritable', ctypes.c_uint32)]


# ------------------------------------------------------------------------------------
# The per-submission sandbox (isolated mode)
# ------------------------------------------------------------------------------------

def enter_namespaces(*keep_out):
    """New mount, PID, network, IPC and UTS namespaces. Returns in the new PID
    namespace's first process (pid 1); the intermediate process (outside it) closes the
    descriptors keep_out, waits for it and exits with its status."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), 'unshare')
    pid = os.fork()
    if pid:  # intermediate: mirror the sandboxed process's exit
        for fd in keep_out:
            os.close(fd)
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the template killed the intermediate: die too
    os.setsid()  # and a process group of its own, inside the new namespace


def private_filesystems():
    """Its own /proc (only its processes), /tmp and /dev/shm (empty, size-capped)."""
    _mount(None, '/', None, MS_REC | MS_PRIVATE)
    _mount('proc', '/proc', 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _mount('tmpfs', '/tmp', 'tmpfs', MS_NOSUID | MS_NODEV, f'size={TMP_SIZE},mode=1777')
    _mount('tmpfs', '/dev/shm', 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, f'size={SHM_SIZE},mode=1777')
    # the Python environment, where it lived under /tmp: bound back, read-only, from where the
    # template's sandbox also keeps it (grader_sandbox.PYTHON_STASH)
    for stash, path in json.loads(os.environ.get('GRADER_REBIND', '[]')):
        os.makedirs(path, exist_ok=True)
        _mount(stash, path, None, MS_BIND | MS_REC)
        _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)


def drop_privileges(uid):
    """No capabilities, ever again: drop the bounding set, become `uid` (when the template
    runs as real root; in a user namespace only one uid is mapped, so the capabilities
    are cleared instead), then no_new_privs."""
    with open('/proc/sys/kernel/cap_last_cap') as file:
        last = int(file.read())
    for cap in range(last + 1):
        _prctl(PR_CAPBSET_DROP, cap)  # fails harmlessly for caps we never had
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # leaving uid 0 clears every capability
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), 'capset')
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), 'no_new_privs')
    _prctl(PR_SET_DUMPABLE, 0)


class _SockFilter(ctypes.Structure):
    _fields_ = [('code', ctypes.c_uint16), ('jt', ctypes.c_uint8), ('jf', ctypes.c_uint8), ('k', ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.POINTER(_SockFilter))]


# (audit arch, {syscall: number}) of the architectures the filter knows (asm/unistd.h)
_SYSCALLS = {'x86_64': (0xC000003E, dict(clone=56, unshare=272, setns=308, clone3=435)),
             'aarch64': (0xC00000B7, dict(clone=220, unshare=97, setns=268, clone3=435))}
CLONE_NEWUSER = 0x10000000


def forbid_new_namespaces():
    """A seccomp filter: no new user namespace (unshare/clone with CLONE_NEWUSER), no
    setns, and clone3 answers ENOSYS so that the C library falls back to clone, whose
    flags the filter can read. Without it a submission could create a user namespace of
    its own: it would see nothing more, but reach more of the kernel. Returns False on
    an architecture the filter does not know (nothing is installed then)."""
    arch = _SYSCALLS.get(os.uname().machine)
    if arch is None:
        return False
    audit_arch, numbers = arch
    load, jump_eq, jump_set, ret = 0x20, 0x15, 0x45, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    program = [  # (code, jump if true, jump if false, k); jumps count the instructions to skip
        (load, 0, 0, 4),                             # 0: arch
        (jump_eq, 0, 5, audit_arch),                 # 1: another arch: -> 7 allow
        (load, 0, 0, 0),                             # 2: syscall number
        (jump_eq, 8, 0, numbers['clone3']),          # 3: -> 12 ENOSYS
        (jump_eq, 6, 0, numbers['setns']),           # 4: -> 11 EPERM
        (jump_eq, 2, 0, numbers['unshare']),         # 5: -> 8 flags
        (jump_eq, 1, 0, numbers['clone']),           # 6: -> 8 flags
        (ret, 0, 0, allow),                          # 7
        (load, 0, 0, 16),                            # 8: low 32 bits of the first argument (flags)
        (jump_set, 1, 0, CLONE_NEWUSER),             # 9: -> 11 EPERM
        (ret, 0, 0, allow),                          # 10
        (ret, 0, 0, eperm),                          # 11
        (ret, 0, 0, enosys),                         # 12
    ]
    filters = (_SockFilter * len(program))(*[_SockFilter(*instruction) for instruction in program])
    fprog = _SockFprog(len(program), filters)
    _check(_libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)), 'seccomp')
    return True


def limit_resources(memory_mb, cpu_seconds, isolated):
    """Memory (address space), file size, CPU time, no core files; processes when isolated
    (RLIMIT_NPROC counts per user: without our own uid it would count the instructor's)."""
    memory = memory_mb * 2**20
    limits = [(resource.RLIMIT_AS, memory), (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT), (resource.RLIMIT_CORE, 0),
              (resource.RLIMIT_CPU, max(1, int(cpu_seconds)))]
    if isolated:
        limits.append((resource.RLIMIT_NPROC, PROCESS_LIMIT))
    for kind, value in limits:
        resource.setrlimit(kind, (value, value))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing


# ------------------------------------------------------------------------------------
# One submission: define its code, observe it on every case
# ------------------------------------------------------------------------------------

def describe(exc):
    """One line naming the exception and the student's line (the kit's wording)."""
    from rl_kit import harness
    harness.HARNESS_FILES.add(os.path.abspath(__file__))
    return harness.describe_exception(exc)


def define(pieces, notes):
    """Runs the submission's defining code; returns its namespace. A failing import or
    a failing optional statement (an alias or constant) is skipped with a note."""
    namespace = {'__name__': '__main__', '__builtins__': __builtins__}
    for cell, line, code, flags, optional in pieces:
        filename = f'<cell {cell}>'
        # line numbers as in the cell, so that feedback quotes the student's line
        padded = '\n' * (line - 1) + code
        linecache.cache[filename] = (len(padded), None, padded.splitlines(True), filename)
        compiled = compile(padded, filename, 'exec', flags=flags, dont_inherit=True)
        try:
            exec(compiled, namespace)
        except ImportError as exc:
            if not code.startswith(('import ', 'from ')):
                raise
            notes.append(f'skipped `{code.splitlines()[0]}` (cell {cell}): {type(exc).__name__}: {exc}')
        except Exception:  # noqa: BLE001 - an alias or constant that fails is skipped, as if not kept
            if not optional:
                raise
    return namespace


def run_job(job):
    """The result message of one submission (a dict of plain data)."""
    import numpy as np
    import torch
    import rl_tests
    notes = []
    try:
        namespace = define(job['pieces'], notes)
    except BaseException as exc:  # noqa: BLE001 - includes SystemExit from the submission
        what = 'called sys.exit()' if isinstance(exc, SystemExit) else 'raised an exception'
        return dict(status='error', notes=notes,
                    detail=f'the notebook {what} while defining its code: ' + describe(exc))
    PPO = namespace.get('PPO')
    if not isinstance(PPO, type):
        return dict(status='no PPO class', notes=notes, detail='no class named PPO is defined')
    observations = []
    for data in job['cases']:
        # the same seeds for every case: a submission that draws random numbers is graded the same each run
        torch.manual_seed(0)
        np.random.seed(0)
        random.seed(0)
        try:
            observations.append(rl_tests.observe(PPO, rl_tests.Case.from_data(data)).to_data())
        except BaseException as exc:  # noqa: BLE001 - observe() never raises; sys.exit() in a method may
            return dict(status='error', notes=notes, detail='the tests could not finish: ' + describe(exc))
    return dict(status='ok', notes=notes, observations=observations)


def _read_all(fd, limit):
    chunks, size = [], 0
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b''.join(chunks)
        size += len(chunk)
        if size > limit:
            raise ValueError(f'the job is larger than {limit} bytes')
        chunks.append(chunk)


def child(job_fd, result_fd, request, isolated):
    """The forked child: sandbox itself, run the job, write the result, exit."""
    try:
        # its own session and process group: kill(0, ...) must not reach the template
        os.setsid()
        if isolated:
            enter_namespaces(job_fd, result_fd)
            private_filesystems()
            drop_privileges(request.get('uid'))
            forbid_new_namespaces()
        # a working folder of its own, inside a scratch folder of its own (`../x` stays inside too)
        work = os.path.join(tempfile.mkdtemp(dir='/tmp' if isolated else os.getcwd()), 'work')
        os.mkdir(work)
        os.chdir(work)
        limit_resources(request['memory_mb'], request['timeout'] + 5, isolated)
        os.lseek(job_fd, 0, os.SEEK_SET)
        job = json.loads(_read_all(job_fd, JOB_LIMIT))
        os.close(job_fd)
    except Exception as exc:  # noqa: BLE001 - refuse to run unsandboxed
        os.write(result_fd, json.dumps(dict(status='error', detail=f'the sandbox failed: {exc}')).encode())
        os._exit(70)
    # the submission's prints go nowhere; the result descriptor is not fd 1 or 2
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    # nothing of the template (its control socket, its files) stays reachable
    highest = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    highest = highest if 0 < highest < 1 << 20 else 1 << 16
    os.closerange(3, result_fd)
    os.closerange(result_fd + 1, highest)
    sys.stdout = sys.stderr = io.TextIOWrapper(io.FileIO(1, 'w', closefd=False), errors='replace')
    try:
        result = run_job(job)
    except BaseException as exc:  # noqa: BLE001
        result = dict(status='error', detail=f'the grading child failed: {type(exc).__name__}: {exc}')
    text = json.dumps(result, allow_nan=True, ensure_ascii=True).encode()
    view = memoryview(text)
    while view:
        view = view[os.write(result_fd, view):]
    os.close(result_fd)
    os._exit(0)  # do not wait for threads or children the submission left running


# ------------------------------------------------------------------------------------
# The template
# ------------------------------------------------------------------------------------

def preload():
    """Imports every submission needs, once, before any fork."""
    sys.path.insert(0, KIT)
    os.environ.setdefault('MPLBACKEND', 'Agg')
    import numpy  # noqa: F401
    import torch
    torch.set_num_threads(1)
    import rl_tests  # noqa: F401
    for optional in ('gymnasium', 'matplotlib.pyplot', 'rl_gui'):  # what notebooks import
        try:
            __import__(optional)
        except Exception:  # noqa: BLE001 - missing here means missing for the submission too
            pass


def _kill_leftovers():
    """SIGKILLs every child of this template (as a subreaper it inherits orphans) and reaps them."""
    me = os.getpid()
    for _ in range(100):
        children = []
        for entry in os.listdir('/proc'):
            if entry.isdigit():
                try:
                    with open(f'/proc/{entry}/stat', 'rb') as file:
                        fields = file.read().rsplit(b')', 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == me:
                    children.append(int(entry))
        if not children:
            return
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _wait(pid, timeout):
    """(waitpid status or None, timed_out) for the child `pid`, killed after `timeout` s."""
    deadline = time.monotonic() + timeout
    pidfd = os.pidfd_open(pid) if hasattr(os, 'pidfd_open') else None
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status, False
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                return os.waitpid(pid, 0)[1], True
            if pidfd is not None:
                select.select([pidfd], [], [], left)
            else:
                time.sleep(min(left, 0.01))
    finally:
        if pidfd is not None:
            os.close(pidfd)


def template(control_fd, isolated):
    control = socket.socket(fileno=control_fd)
    preload()
    if sys.platform.startswith('linux'):
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
    control.send(json.dumps({'ready': True}).encode())
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 1 << 16, 2)
        except OSError:
            return
        if not message:
            return  # the parent closed the socket
        request = json.loads(message)
        job_fd, result_fd = fds
        pid = os.fork()
        if pid == 0:
            control.close()
            child(job_fd, result_fd, request, isolated)
        os.close(job_fd)
        os.close(result_fd)
        status, timed_out = _wait(pid, request['timeout'])
        if sys.platform.startswith('linux'):
            _kill_leftovers()
        control.send(json.dumps({
            'exit': os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            'signal': os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            'timed_out': timed_out}).encode())


if __name__ == '__main__':
    # grader_child.py CONTROL_FD [--isolated]
    template(int(sys.argv[1]), isolated='--isolated' in sys.argv[2:])
