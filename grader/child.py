"""The grading child: the only place where a submission's code runs (instructor side).

grade.py starts this file once per job slot as a *template*: a process that imports
torch, numpy, IPython and the student-side modules once, and makes an IPython shell (the
slow part, ~2-3 s), and then, for every submission, forks a fresh child that

  1. (isolated mode) enters new mount, PID, network, IPC and UTS namespaces, so that it
     sees no other process, has no network, and gets its own empty /tmp and /dev/shm;
     becomes an unprivileged user without capabilities (a uid of its own per submission
     when grade.py runs as root); gets memory, process-count, file-size and CPU limits and
     a seccomp filter (no new user namespaces, no kernel keyrings: nothing outlives it);
  2. reads its job from a file descriptor the parent sent: the cases' inputs and the
     notebook's bytes as submitted. It parses the notebook here, under its own caps (the
     parent never parses a submission), runs its code cells top to bottom in the shell as
     Jupyter does, with NBGRADER_EXECUTION=autograde as nbgrader's autograder sets it (the
     kit's training, evaluation and rendering cells then skip), each cell with a time cap;
  3. for every case writes rl_tests.observe(PPO, case).to_data() for the PPO class the run
     left (plain data: what the student's functions returned) to a result descriptor that
     the parent reads, size-bounded, with the run's notes (cells that raised, were
     interrupted or were not reached).

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
  parent -> template  {"timeout": s, "memory_mb": m, "uid": u}  + SCM_RIGHTS [job_fd, result_fd]
  template -> parent  {"exit": code or null, "signal": n or null, "timed_out": bool}
The job (job_fd): a line of JSON {"cases": [...], "cells_seconds": s, "cell_timeout": s},
then the notebook file's bytes.
This file is copied into the sandbox's read-only kit folder; it holds no secret.
"""

import ctypes
import ctypes.util
import io
import json
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
JOB_LIMIT = 64 * 2**20            # bytes of a job's JSON line a child accepts (the cases' inputs)
NOTEBOOK_LIMIT = 32 * 2**20       # bytes of a notebook (grade.py refuses larger ones before they get here)
NOTES_LIMIT, NOTE_LIMIT = 20, 500 # notes of one submission, and characters of one
INTERRUPT_REPEAT = 0.1            # seconds between interrupts of a cell that goes on after the first
SHELL = _harness = None           # the IPython shell and rl_kit.harness, made and imported by preload()
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
_SYSCALLS = {'x86_64': (0xC000003E, dict(clone=56, unshare=272, setns=308, clone3=435, add_key=248,
                                         request_key=249, keyctl=250)),
             'aarch64': (0xC00000B7, dict(clone=220, unshare=97, setns=268, clone3=435, add_key=217,
                                          request_key=218, keyctl=219))}
CLONE_NEWUSER = 0x10000000
X32_SYSCALL_BIT = 0x40000000  # x86_64's x32 ABI: the same calls under other numbers
REFUSED = ('setns', 'add_key', 'request_key', 'keyctl')  # EPERM, whatever the arguments


def _assemble(program):
    """The instructions of a classic BPF program given as (label or None, code, k, jump if
    true, jump if false), whose jumps name labels (None: the next instruction)."""
    where = {label: index for index, (label, *_) in enumerate(program) if label}
    out = []
    for index, (_, code, k, true, false) in enumerate(program):
        jumps = [0 if label is None else where[label] - index - 1 for label in (true, false)]
        assert all(0 <= jump < 256 for jump in jumps), 'BPF jumps go forward, at most 255 instructions'
        out.append(_SockFilter(code, *jumps, k))
    return out


def forbid_new_namespaces():
    """A seccomp filter: no new user namespace (unshare/clone with CLONE_NEWUSER), no
    setns; no kernel keyrings (add_key, request_key, keyctl), whose user keyring outlives a
    process and would let one submission leave a message to the next of the same uid;
    clone3 answers ENOSYS so that the C library falls back to clone, whose flags the filter
    can read; calls of another architecture or the x32 ABI are refused (their numbers
    differ). Without it a submission could create a user namespace of its own: it would
    see nothing more, but reach more of the kernel. Returns False on an architecture the
    filter does not know (nothing is installed then)."""
    arch = _SYSCALLS.get(os.uname().machine)
    if arch is None:
        return False
    audit_arch, numbers = arch
    load, jump_eq, jump_set, jump_ge, ret = 0x20, 0x15, 0x45, 0x35, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    program = [(None, load, 4, None, None),                       # the architecture
               (None, jump_eq, audit_arch, None, 'eperm'),
               (None, load, 0, None, None),                       # the system call's number
               (None, jump_ge, X32_SYSCALL_BIT, 'eperm', None),
               (None, jump_eq, numbers['clone3'], 'enosys', None)]
    program += [(None, jump_eq, numbers[name], 'eperm', None) for name in REFUSED]
    program += [(None, jump_eq, numbers['unshare'], 'flags', None),
                (None, jump_eq, numbers['clone'], 'flags', None),
                (None, ret, allow, None, None),
                ('flags', load, 16, None, None),                  # low 32 bits of the first argument
                (None, jump_set, CLONE_NEWUSER, 'eperm', None),
                (None, ret, allow, None, None),
                ('eperm', ret, eperm, None, None),
                ('enosys', ret, enosys, None, None)]
    filters = (_SockFilter * len(program))(*_assemble(program))
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
# One submission: read its notebook, run its cells as Jupyter does, observe its PPO
# ------------------------------------------------------------------------------------

class NotANotebook(Exception):
    """The bytes are not a notebook Jupyter could open."""


def _no_outputs(item):
    """json.loads' object_hook: every output is dropped as soon as it is read, so that a
    notebook's memory here is that of its sources, whatever its outputs hold (1.1 million
    tiny outputs, megabytes of images): grading runs the code, it never reads an output."""
    if 'output_type' in item:
        return None
    if 'outputs' in item:
        item['outputs'] = []
    return item


def too_large(size):
    """Why a notebook of `size` bytes is not graded."""
    return (f'{size / 2**20:.1f} MB, larger than the {NOTEBOOK_LIMIT // 2**20} MB grading reads: clear its outputs '
            '(Kernel > Restart Kernel and Clear All Outputs), save it and submit it again')


def read_cells(data):
    """[(position from 1, source)] of the code cells of a notebook file's bytes that grading
    runs, in order (markdown cells count in the positions, as the feedback names cells). Notebooks of
    format 3 and older (worksheets, `input`) are converted as Jupyter converts them, by
    nbformat. Raises NotANotebook saying why not."""
    if len(data) > NOTEBOOK_LIMIT:
        raise NotANotebook(too_large(len(data)))
    try:
        text = data.decode('utf-8-sig')
    except UnicodeDecodeError as exc:
        raise NotANotebook(f'not UTF-8 text ({exc.reason} at byte {exc.start})') from None
    try:
        raw = json.loads(text, object_hook=_no_outputs)
    except (ValueError, RecursionError) as exc:
        raise NotANotebook(f'not valid JSON ({exc})') from None
    del text
    if not isinstance(raw, dict) or not isinstance(raw.get('cells', raw.get('worksheets')), list):
        raise NotANotebook('valid JSON, but not a notebook (no list of cells)')
    cells = raw.get('cells')
    if not isinstance(cells, list):  # format 3 or older
        import nbformat
        try:
            raw.setdefault('nbformat', 3)
            raw.setdefault('nbformat_minor', 0)
            cells = nbformat.convert(nbformat.from_dict(raw), 4).cells
        except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds on odd files
            raise NotANotebook(f'not a notebook Jupyter can read ({type(exc).__name__}: {exc})') from None
    found = []
    for number, cell in enumerate(cells, 1):
        if isinstance(cell, dict) and cell.get('cell_type') == 'code' and not _autograder_test(cell):
            source = cell.get('source', '')
            found.append((number, ''.join(map(str, source)) if isinstance(source, list) else str(source)))
    return found


def _autograder_test(cell):
    """True for an nbgrader autograder test cell (grade, not solution): nbgrader replaces it
    with the instructor's version, and its points here are the grader's own cases, judged
    outside the sandbox, so it is not run. A student who marks a cell of their own so can
    only lose what that cell defines."""
    metadata = cell.get('metadata')
    nbgrader = metadata.get('nbgrader') if isinstance(metadata, dict) else None
    return isinstance(nbgrader, dict) and nbgrader.get('grade') is True and not nbgrader.get('solution')


def make_shell():
    """The IPython shell the cells run in: a real InteractiveShell, as in Jupyter's kernel
    (magics, `!` lines, `%%writefile`, `%%capture`...), without history on disk, with short
    tracebacks (they go nowhere), and with cells named `<cell N>` in tracebacks (N: the
    cell's position in the notebook), as the kit's messages quote a student's line."""
    from IPython.core.compilerop import CachingCompiler
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class CellCompiler(CachingCompiler):
        cell = 0  # the position of the cell being run

        def get_code_name(self, raw_code, transformed_code, number):
            return f'<cell {self.cell}>'

    class GradingShell(InteractiveShell):
        def enable_gui(self, gui=None):
            """`%matplotlib inline`, `%gui`: no event loop to start here (as in a kernel's
            inline backend; InteractiveShell itself refuses)."""

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.xmode = 'Minimal'
    config.InteractiveShell.colors = 'nocolor'
    return GradingShell.instance(config=config, compiler_class=CellCompiler)


class _CellTimer:
    """Interrupts the cell that is running after `seconds`, as Jupyter's interrupt button does
    (KeyboardInterrupt), and again every INTERRUPT_REPEAT s while it keeps running (a cell
    that catches the first one). Never inside this file's own code, so that the grading
    loop cannot be broken by an interrupt that arrives late."""

    def __init__(self, seconds):
        self.seconds, self.fired, self.armed = seconds, False, False

    def _interrupt(self, signum, frame):
        if self.armed and frame is not None and frame.f_code.co_filename != __file__:
            self.fired = True
            raise KeyboardInterrupt(f'grading stopped the cell after {self.seconds:g} s')

    def __enter__(self):
        self.armed = True
        signal.signal(signal.SIGALRM, self._interrupt)
        signal.setitimer(signal.ITIMER_REAL, max(self.seconds, 0.001), INTERRUPT_REPEAT)
        return self

    def __exit__(self, *exc_info):
        self.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


def _error_note(number, result):
    """The note of a cell that raised (None if it did not, or raised one of the kit's
    own stops: rl_gui.NotebookStop skips the training cells while grading, as intended)."""
    exc = result.error_before_exec or result.error_in_exec
    if exc is None:
        return None
    stop = getattr(sys.modules.get('rl_gui'), 'NotebookStop', None)
    if stop is not None and isinstance(exc, stop):
        return None
    if isinstance(exc, SyntaxError):
        return f'cell {number} does not parse: {exc.msg} (line {exc.lineno})'
    return f'cell {number} raised ' + describe(exc)


def run_cells(shell, cells, seconds, cell_seconds, notes):
    """Runs the cells top to bottom, as Jupyter's Run All does but without stopping at an
    error: a cell that raises is noted and the next one runs; a cell still running after
    cell_seconds is interrupted and noted; the cells left after `seconds` in all are
    skipped, noted. Returns the first error's note ('' if none)."""
    deadline = time.monotonic() + seconds
    first_error = ''
    for number, source in cells:
        left = deadline - time.monotonic()
        if left <= 0:
            notes.append(f'cells {number} to {cells[-1][0]} were not run: the cells before them took all the '
                         f'{seconds:g} s that grading gives a notebook\'s cells')
            break
        shell.compile.cell = number
        with _CellTimer(min(cell_seconds, left)) as timer:
            try:
                result = shell.run_cell(source, store_history=True)
            except KeyboardInterrupt:  # while IPython prepared the cell (e.g. a cell of 500 `!` lines)
                result = None
        shell.history_manager.outputs.clear()  # what the cell printed: IPython keeps a copy for its history
        if timer.fired:
            notes.append(f'cell {number} was interrupted after {timer.seconds:.3g} s, the time grading gives one '
                         'cell (is it training?); the run went on')
        elif result is not None:
            note = _error_note(number, result)
            if note:
                notes.append(note)
                first_error = first_error or note
    return first_error


def describe(exc):
    """One line naming the exception and the student's line (the kit's wording; rl_kit.harness
    is imported by preload(), before any submission could break importing)."""
    try:
        return _harness.describe_exception(exc)
    except Exception:  # noqa: BLE001 - the last guard: describe_exception itself failed (a broken traceback)
        return f'{type(exc).__name__} {_harness.UNSHOWN}'


class Notes(list):
    """The notes of one submission, capped: the first NOTES_LIMIT, each at most NOTE_LIMIT
    characters, and how many more there were."""

    def __init__(self):
        super().__init__()
        self.more = 0

    def append(self, note):
        if len(self) < NOTES_LIMIT:
            super().append(note if len(note) <= NOTE_LIMIT else note[:NOTE_LIMIT - 1] + '…')
        else:
            self.more += 1

    def to_data(self):
        return dict(notes=list(self), more_notes=self.more)


def run_job(job, notebook):
    """The result message of one submission (a dict of plain data): its notebook's cells
    run in the shell, then every case observed on the PPO class the run left."""
    import numpy as np
    import torch
    import rl_tests
    notes = Notes()
    try:
        cells = read_cells(notebook)
    except NotANotebook as exc:
        return dict(status='not a notebook', notes=[], detail=str(exc))
    del notebook
    os.environ['NBGRADER_EXECUTION'] = 'autograde'  # the notebook's GRADING: its training cells skip
    first_error = run_cells(SHELL, cells, job['cells_seconds'], job['cell_timeout'], notes)
    PPO = SHELL.user_ns.get('PPO')
    if not isinstance(PPO, type):
        detail = 'no class named PPO is defined when the notebook has run'
        if first_error:
            detail += f' (the first error: {first_error})'
        return dict(status='no PPO class', detail=detail, **notes.to_data())
    observations = []
    for data in job['cases']:
        # the same seeds for every case: a submission that draws random numbers is graded the same each run
        torch.manual_seed(0)
        np.random.seed(0)
        random.seed(0)
        try:
            observations.append(rl_tests.observe(PPO, rl_tests.Case.from_data(data)).to_data())
        except BaseException as exc:  # noqa: BLE001 - observe() never raises; sys.exit() in a method may
            return dict(status='error', detail='the tests could not finish: ' + describe(exc), **notes.to_data())
    return dict(status='ok', observations=observations, **notes.to_data())


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
        # the job: one line of JSON (the cases' inputs and the caps), then the notebook's bytes as submitted
        header, _, notebook = _read_all(job_fd, JOB_LIMIT + NOTEBOOK_LIMIT + 1).partition(b'\n')
        job = json.loads(header)
        os.close(job_fd)
        sys.path.insert(0, '')  # as in Jupyter's kernel: modules the notebook writes (%%writefile) import
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
        result = run_job(job, notebook)
    except BaseException as exc:  # noqa: BLE001
        result = dict(status='error', detail=f'the grading child failed: {type(exc).__name__}: {exc}')
    try:
        text = json.dumps(result, allow_nan=True, ensure_ascii=True).encode()
        view = memoryview(text)
        while view:
            view = view[os.write(result_fd, view):]
        os.close(result_fd)
    except BaseException:  # noqa: BLE001 - e.g. the submission closed the result descriptor: no result
        os._exit(71)
    os._exit(0)  # do not wait for threads or children the submission left running


# ------------------------------------------------------------------------------------
# The template
# ------------------------------------------------------------------------------------

def _one_thread(threads):
    """torch.set_num_threads while grading: torch keeps running on one thread."""


def preload():
    """Imports every submission needs, once, before any fork."""
    sys.path.insert(0, KIT)
    os.environ.setdefault('MPLBACKEND', 'Agg')
    import numpy  # noqa: F401
    import torch
    torch.set_num_threads(1)
    # A submission is one thread (PROCESS_LIMIT). A notebook's torch.set_num_threads(4), harmless
    # in Jupyter, would make OpenMP start threads it cannot start and end the process: it keeps one.
    torch.set_num_threads = torch.set_num_interop_threads = _one_thread
    import rl_tests  # noqa: F401
    from rl_kit import harness
    global _harness
    _harness = harness
    harness.HARNESS_FILES.add(os.path.abspath(__file__))
    for optional in ('gymnasium', 'matplotlib.pyplot', 'rl_gui'):  # what notebooks import
        try:
            __import__(optional)
        except Exception:  # noqa: BLE001 - missing here means missing for the submission too
            pass
    global SHELL
    SHELL = make_shell()  # made once: every child gets a fresh copy of it with its fork


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
        if pid == 0:  # the child never returns into this loop, whatever happens in it
            try:
                control.close()
                child(job_fd, result_fd, request, isolated)
            finally:
                os._exit(70)
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
