"""Where a submission's code runs: pre-forked, pre-imported templates, sandboxed with
bubblewrap (instructor side; used by grade.py).

A Template is one long-lived process (grader/child.py) that has imported torch, IPython
and the student-side modules; for every submission it forks a child that reads the
submission's notebook (its bytes arrive in the job, copied by the kernel: this process
never holds them), runs it and writes plain data to a pipe that only this process reads,
size-bounded. With
isolation (bubblewrap, Linux), the template runs in a sandbox that sees only the Python
environment and the kit folder (the student-side modules), read-only, with no network and
its own PID namespace that dies with grade.py; each child additionally gets its own
namespaces, /tmp, an unprivileged user and resource caps (see grader/child.py). Without
bubblewrap (macOS, Windows, a host that forbids namespaces), the same templates run as
plain processes with resource caps only, and grade.py says so.
"""

import dataclasses
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from grader.child import NOTEBOOK_LIMIT

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # the kit's root
CHILD_SCRIPT = 'grader_child.py'   # grader/child.py, as the sandbox's kit folder holds it
# what a student's notebook may import from the kit, and nothing else (never ppo_reference.py,
# instructor/, grader/, hidden tests, submissions or the output folder): what release/ holds
STUDENT_FILES = ('rl_tests.py', 'rl_gui.py', 'rl_kit')
RESULT_LIMIT = 8 * 2**20         # bytes a child may send back
ATTACHMENT_LIMIT = NOTEBOOK_LIMIT + 1  # bytes of a notebook copied into a job (the child refuses more)
READY_TIMEOUT = 300.0            # seconds for a template's imports (a loaded 2-core machine)
GRACE = 10.0                     # seconds beyond a job's timeout before the template counts as hung
SANDBOX_HOME = '/tmp'
SANDBOX_KIT = '/kit'
# system folders the interpreter and its shared libraries need, read-only
PRIVATE_PATHS = ('/tmp/', '/dev/shm/')  # every child gets its own, empty ones
PYTHON_STASH = '/.python'               # where a Python environment under PRIVATE_PATHS is also bound
REBIND_VARIABLE = 'GRADER_REBIND'       # tells the children which (stash, path) to bind back
SYSTEM_PATHS = ('/usr', '/lib', '/lib64', '/lib32', '/bin', '/sbin', '/etc/ld.so.cache', '/etc/alternatives')


class SandboxError(Exception):
    """A template could not be started or stopped answering."""


@dataclasses.dataclass
class Outcome:
    """What became of one child: the bytes it sent, and how it ended."""
    data: bytes
    too_large: bool          # it tried to send more than RESULT_LIMIT bytes
    exit_code: int = None    # None when killed by a signal
    signal: int = None
    timed_out: bool = False


def make_kit(folder):
    """Copies the student-side modules and the child script into a new folder `kit`
    inside `folder` (the only project files a sandbox sees); returns its path. Readable by
    the sandbox's unprivileged user; `folder` (e.g. from mkdtemp) keeps it private on the host."""
    kit = os.path.join(folder, 'kit')
    os.mkdir(kit)
    os.chmod(kit, 0o755)
    copies = [(os.path.join(ROOT, 'grader', 'child.py'), CHILD_SCRIPT)]
    for name in STUDENT_FILES:
        source = os.path.join(ROOT, name)
        if os.path.isdir(source):
            os.mkdir(os.path.join(kit, name))
            os.chmod(os.path.join(kit, name), 0o755)
            copies += [(os.path.join(source, file), os.path.join(name, file)) for file in sorted(os.listdir(source))
                       if file.endswith(('.py', '.json'))]
        elif os.path.exists(source):
            copies.append((source, name))
    for source, name in copies:
        shutil.copyfile(source, os.path.join(kit, name))
        os.chmod(os.path.join(kit, name), 0o644)
    return kit


def _environment():
    # nothing of the instructor's environment (tokens, paths) reaches a submission
    return {'PATH': '/usr/local/bin:/usr/bin:/bin', 'HOME': SANDBOX_HOME, 'LANG': 'C.UTF-8',
            'MPLBACKEND': 'Agg', 'MPLCONFIGDIR': SANDBOX_HOME, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1',
            'PYTHONDONTWRITEBYTECODE': '1', 'PYTHONHASHSEED': '0'}


def _python_paths():
    """The folders of the Python environment: the venv and the interpreter it points to."""
    paths = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix), os.path.realpath(sys.exec_prefix),
             os.path.dirname(os.path.realpath(sys.executable))}
    if sys.prefix != os.path.realpath(sys.prefix):
        paths.add(sys.prefix)
    return sorted(paths)


def bwrap_command(kit, command, user_namespace=None):
    """The bubblewrap command line that runs `command` (a list) in the template's sandbox.
    user_namespace (default: when not run as root): the template gets capabilities only
    inside a user namespace, enough to set up its children's namespaces."""
    bwrap = shutil.which('bwrap')
    if bwrap is None:
        raise SandboxError('bubblewrap (bwrap) is not installed')
    arguments = [bwrap, '--die-with-parent', '--new-session', '--unshare-pid', '--unshare-net', '--unshare-ipc',
                 '--unshare-uts', '--unshare-cgroup-try']
    if os.geteuid() != 0 if user_namespace is None else user_namespace:
        arguments += ['--unshare-user', '--uid', '0', '--gid', '0', '--cap-add', 'ALL']
    # the private filesystems first, so that a Python environment that lives under /tmp (a
    # venv in a clone under /tmp, as CI may have) is bound on top of them, not hidden by them
    arguments += ['--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--tmpfs', '/dev/shm']
    created = {'/', '/proc', '/dev', '/tmp', '/dev/shm'}

    def parents(path):  # traversable folders down to `path` (bwrap would make them 0700)
        out = []
        parent = os.path.dirname(path)
        chain = []
        while parent not in created:
            chain.append(parent)
            parent = os.path.dirname(parent)
        for folder in reversed(chain):
            out += ['--perms', '0755', '--dir', folder]
            created.add(folder)
        return out

    for path in SYSTEM_PATHS:
        if os.path.islink(path):
            arguments += parents(path) + ['--symlink', os.readlink(path), path]
        elif os.path.exists(path):
            arguments += parents(path) + ['--ro-bind', path, path]
        created.add(path)
    under_private = []  # (stash, path): each child mounts its own /tmp and binds these back from the stash
    for path in _python_paths():
        if not any(path == done or path.startswith(done.rstrip('/') + '/') for done in SYSTEM_PATHS):
            arguments += parents(path) + ['--ro-bind', path, path]
            created.add(path)
            if path.startswith(PRIVATE_PATHS):
                stash = f'{PYTHON_STASH}/{len(under_private)}'
                arguments += parents(stash) + ['--ro-bind', path, stash]
                under_private.append((stash, path))
    arguments += ['--ro-bind', kit, SANDBOX_KIT, '--chdir', SANDBOX_HOME, '--clearenv']
    environment = _environment()
    if under_private:
        environment[REBIND_VARIABLE] = json.dumps(under_private)
    for key, value in environment.items():
        arguments += ['--setenv', key, value]
    return arguments + ['--'] + command


class Template:
    """One pre-imported template process; run() grades one submission's job in a fresh child."""

    def __init__(self, kit, isolated, uid=None, log_path=None, user_namespace=None):
        self.kit, self.isolated, self.uid = kit, isolated, uid
        self.user_namespace = user_namespace
        self.log_path = log_path
        self.process = self.control = None
        self._started = False

    def start(self):
        """Starts the process (returns at once); wait_ready() waits for its imports."""
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.control = parent_end
        fd = child_end.fileno()
        log = open(self.log_path or os.devnull, 'ab')
        try:
            if self.isolated:
                command = bwrap_command(self.kit, [sys.executable, '-I', '-B', f'{SANDBOX_KIT}/{CHILD_SCRIPT}',
                                                   str(fd), '--isolated'], self.user_namespace)
                cwd = None
            else:
                command = [sys.executable, '-I', '-B', os.path.join(self.kit, CHILD_SCRIPT), str(fd)]
                cwd = tempfile.mkdtemp(prefix='scratch-', dir=os.path.dirname(self.kit))
            self.process = subprocess.Popen(command, pass_fds=(fd,), stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=log, cwd=cwd,
                                            env=None if self.isolated else dict(_environment(), HOME=self.kit,
                                                                                MPLCONFIGDIR=self.kit),
                                            start_new_session=True)
        finally:
            log.close()
            child_end.close()
        self._started = True
        return self

    def wait_ready(self, timeout=READY_TIMEOUT):
        message = self._receive(timeout)
        if message is None or not message.get('ready'):
            self.close()
            raise SandboxError(f'the grading template did not start (see {self.log_path or "its log"})')
        return self

    def _receive(self, timeout):
        """One JSON control message, or None on timeout / a closed socket / garbage."""
        self.control.settimeout(max(timeout, 0.001))
        try:
            packet = self.control.recv(1 << 16)
        except (socket.timeout, OSError):
            return None
        try:
            message = json.loads(packet) if packet else None
        except ValueError:
            return None
        return message if isinstance(message, dict) else None

    def run(self, job, timeout, memory_mb, attachment=b'', uid=None):
        """Runs one job in a fresh child; returns its Outcome. job: a line of JSON (bytes);
        attachment: what follows it, bytes or an open file copied by the kernel (a
        notebook: never read into this process); uid: the child's (default: the
        template's). Raises SandboxError if the template itself stopped answering (it is
        then closed)."""
        if self.control is None:
            raise SandboxError('the grading template is closed')
        job_file = _anonymous_file(job + b'\n', attachment)
        read_end, write_end = os.pipe()
        try:
            request = {'timeout': timeout, 'memory_mb': memory_mb, 'uid': self.uid if uid is None else uid}
            try:
                socket.send_fds(self.control, [json.dumps(request).encode()], [job_file.fileno(), write_end])
            except OSError as exc:
                self.close()
                raise SandboxError(f'the grading template is gone: {exc}') from None
        finally:
            os.close(write_end)
            job_file.close()
        deadline = time.monotonic() + timeout + GRACE
        try:
            data, too_large = _read_bounded(read_end, deadline)
        finally:
            os.close(read_end)
        status = self._receive(deadline - time.monotonic())
        if status is None:
            self.close()
            raise SandboxError('the grading template stopped answering')
        return Outcome(data, too_large, status.get('exit'), status.get('signal'), bool(status.get('timed_out')))

    def close(self):
        """Ends the template and everything in its sandbox: a closed control socket makes
        it exit (bubblewrap then reaps its sandbox); a template that does not is killed."""
        if self.control is not None:
            self.control.close()
            self.control = None
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                self.process.wait()
            self.process = None


def _anonymous_file(data, attachment=b''):
    """A file without a name holding `data` then `attachment` (bytes, or the rest of an open
    file, copied by the kernel where it can: this process's memory does not grow with it),
    positioned at its start."""
    if hasattr(os, 'memfd_create'):
        fd = os.memfd_create('job', os.MFD_CLOEXEC)
        file = open(fd, 'w+b')
    else:
        file = tempfile.TemporaryFile()
    file.write(data)
    if isinstance(attachment, bytes):
        file.write(attachment[:ATTACHMENT_LIMIT])
    else:
        file.flush()
        left = ATTACHMENT_LIMIT
        try:
            while left > 0:
                sent = os.sendfile(file.fileno(), attachment.fileno(), None, min(left, 1 << 24))
                if not sent:
                    break
                left -= sent
        except (AttributeError, OSError):  # no sendfile here (e.g. macOS): copied in chunks
            file.seek(0, os.SEEK_END)
            while left > 0:
                chunk = attachment.read(min(left, 1 << 20))
                if not chunk:
                    break
                file.write(chunk)
                left -= len(chunk)
    file.flush()
    file.seek(0)
    return file


def _read_bounded(fd, deadline):
    """(data, too_large): what arrives on `fd` until EOF, the deadline, or RESULT_LIMIT bytes."""
    chunks, size = [], 0
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                return b''.join(chunks), False
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b''.join(chunks), False
            size += len(chunk)
            if size > RESULT_LIMIT:
                return b'', True
            chunks.append(chunk)


def probe(kit, log_path=None):
    """(True, '') if an isolated template starts here, else (False, why not)."""
    if not sys.platform.startswith('linux'):
        return False, f'bubblewrap needs Linux; this is {sys.platform}'
    if shutil.which('bwrap') is None:
        return False, 'bubblewrap (bwrap) is not installed (apt-get install bubblewrap)'
    try:
        completed = subprocess.run(bwrap_command(kit, [sys.executable, '-I', '-c', 'pass']),
                                   capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError, SandboxError) as exc:
        return False, f'bubblewrap cannot run: {exc}'
    if completed.returncode != 0:
        why = completed.stderr.decode('utf-8', 'replace').strip().splitlines()
        return False, f'bubblewrap cannot run here: {why[-1] if why else completed.returncode}'
    return True, ''
