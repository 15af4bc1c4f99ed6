"""The file operations apply is made of: copy by the kernel (copy_file_range) and read back,
clone (FICLONE reflink), make durable (syncfs, one per filesystem, or an fsync each), name a
finished file without ever replacing one (renameat2 RENAME_NOREPLACE, or link + unlink), and
the temporary names files are written under (`.<name>.photoverify-tmp` beside the target).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import stat
from collections.abc import Callable
from typing import Any

from photoverify.dedupe.core.errors import EnvironmentProblem
from photoverify.dedupe.core.hashing import CHUNK, hash_fd
from photoverify.dedupe.core.outfile import fsync_dir

TMP_SUFFIX = ".photoverify-tmp"
FICLONE = 0x40049409  # linux/fs.h _IOW(0x94, 9, int)
FULL = (errno.ENOSPC, errno.EDQUOT)
# copy_file_range refusing a pair of files (other filesystems on old kernels, special files)
NO_KERNEL_COPY = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF)
KERNEL_COPY = 1 << 30  # bytes per copy_file_range call
NO_REFLINK = (errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EPERM)


def _libc(name: str, *argtypes: Any) -> Callable[..., int] | None:
    """A Linux libc call Python does not wrap (syncfs, sync_file_range), or None elsewhere."""
    try:
        fn = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (AttributeError, OSError):
        return None
    fn.argtypes = list(argtypes)
    fn.restype = ctypes.c_int
    return fn


_SYNCFS = _libc("syncfs", ctypes.c_int)
_SYNC_FILE_RANGE = _libc(
    "sync_file_range", ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint
)
SYNC_FILE_RANGE_WRITE = 2
_RENAMEAT2 = _libc(
    "renameat2", ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint
)
AT_FDCWD = -100
RENAME_NOREPLACE = 1


def start_writeback(fd: int) -> None:
    """Start writing a finished tmp to disk now, so the batch's sync waits for less.

    Only a head start: it promises nothing and its errors surface at the sync."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, 0, 0, SYNC_FILE_RANGE_WRITE)


def sync_files(fds: list[int]) -> dict[int, OSError]:
    """Make the data and inodes of all `fds` durable; return {fd: error} for those that failed.

    One syncfs(2) per filesystem costs about what one fsync does, where fsyncing each file
    costs a journal commit and a cache flush apiece. syncfs reports writeback errors since
    Linux 5.8 (sync(2) never does), but only per filesystem, and counts errors since the fd it
    is given was opened: it gets the earliest-opened fd of the batch on that filesystem. Any
    error, ours or not, falls back to fsyncing each file, which tells whose it was.
    """
    if not fds:
        return {}
    first: dict[int, int] = {}
    for fd in fds:
        first.setdefault(os.fstat(fd).st_dev, fd)
    if _SYNCFS is not None and all(_SYNCFS(fd) == 0 for fd in first.values()):
        return {}
    errors: dict[int, OSError] = {}
    for fd in fds:
        try:
            os.fsync(fd)
        except OSError as exc:
            errors[fd] = exc
    return errors


def sync_folders(folders: list[str]) -> None:
    """Make the names in these folders durable: one syncfs, or an fsync each where needed."""
    fds: list[int] = []
    try:
        for d in folders:
            fds.append(os.open(d, os.O_RDONLY | os.O_DIRECTORY))
        errors = sync_files(fds)
        if errors:
            raise next(iter(errors.values()))
    finally:
        for fd in fds:
            os.close(fd)


def tmp_path(target: str, blake3: str | None = None) -> str:
    folder, name = os.path.split(target)
    tmp = f".{name}{TMP_SUFFIX}"
    if len(tmp.encode("utf-8", "surrogateescape")) > 255:
        tmp = f".{(blake3 or 'x' * 16)[:16]}{TMP_SUFFIX}"
    return os.path.join(folder, tmp)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def copy_into(src: str, fd_out: int, buf: bytearray) -> str:
    """Copy src into the new, empty file fd_out (open for reading too); return its BLAKE3.

    The kernel copies (copy_file_range: no trip through our memory, and on filesystems that
    share extents a clone), then the copy is read back and hashed: the digest is of the file
    as written, so a source changed mid-copy, or a short write, shows as a mismatch.
    `buf` is reused across files: zeroing a fresh 4 MiB buffer per file costs more than
    copying a photo."""
    fd_in = os.open(src, os.O_RDONLY)
    try:
        _kernel_copy(fd_in, fd_out)
        view = memoryview(buf)
        while n := os.readv(fd_in, [buf]):  # whatever the kernel left: all of it, or none
            done = 0
            while done < n:
                done += os.write(fd_out, view[done:n])
    finally:
        os.close(fd_in)
    return hash_fd(fd_out, buf=buf)["blake3"]


def _kernel_copy(fd_in: int, fd_out: int) -> None:
    """copy_file_range from both files' offsets to the end of fd_in, where the kernel can."""
    copy = getattr(os, "copy_file_range", None)
    if copy is None:
        return
    while True:
        try:
            n = copy(fd_in, fd_out, KERNEL_COPY)
        except OSError as exc:
            if exc.errno in NO_KERNEL_COPY and os.lseek(fd_out, 0, os.SEEK_CUR) == 0:
                return  # not between these files: the read/write loop does it all
            raise
        if n == 0:
            return


def stream_copy(src: str, dst: str, buf: bytearray | None = None) -> str:
    """Copy src to a new file dst; fsync; return the BLAKE3 of the copy."""
    fd_out = os.open(dst, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        digest = copy_into(src, fd_out, buf or bytearray(CHUNK))
        os.fsync(fd_out)
    finally:
        os.close(fd_out)
    return digest


def clone_into(src: str, fd_out: int) -> None:
    """Make fd_out share src's extents (FICLONE); OSError in NO_REFLINK where it cannot."""
    with open(src, "rb") as fh:
        fcntl.ioctl(fd_out, FICLONE, fh.fileno())


def copy_mode_and_times(file: str | int, st: os.stat_result) -> None:
    """Give `file` (a path or an open descriptor) st's permission bits and times."""
    os.chmod(file, stat.S_IMODE(st.st_mode))
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns))


def place(
    tmp: str, target: str, *, sync_dir: bool = True, linked: Callable[[], None] | None = None
) -> None:
    """Give tmp its final name without ever replacing a file that is already there.

    `linked` is called once the target is named (a crash point for the tests; with link +
    unlink, while both names exist)."""
    if _rename_noreplace(tmp, target):
        if linked:
            linked()
        if sync_dir:
            fsync_dir(os.path.dirname(target))
        return
    try:
        os.link(tmp, target)  # fails with EEXIST instead of overwriting
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            raise
        # filesystems without hard links (FAT, exFAT, some FUSE): check, then rename
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "target exists", target) from None
        os.rename(tmp, target)
    else:
        if linked:
            linked()
        os.unlink(tmp)
    if sync_dir:
        fsync_dir(os.path.dirname(target))


def _rename_noreplace(tmp: str, target: str) -> bool:
    """renameat2(RENAME_NOREPLACE): one atomic step that fails rather than replace a file.

    False where the kernel, C library or filesystem cannot (then link + unlink does it);
    FileExistsError when target exists."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(AT_FDCWD, os.fsencode(tmp), AT_FDCWD, os.fsencode(target), RENAME_NOREPLACE):
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise FileExistsError(err, os.strerror(err), target)
        if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            return False
        raise OSError(err, os.strerror(err), tmp)
    return True


def has_size(path: str, size: int) -> bool:
    try:
        return os.lstat(path).st_size == size
    except FileNotFoundError:
        return False


def mkdir_quiet(path: str) -> None:
    with contextlib.suppress(FileExistsError):
        os.mkdir(path)


def close_quiet(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def no_space(target: str, source: str) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"{target}: no space left on device (ENOSPC) while writing {source}; "
        "free space at the destination and run apply again to resume"
    )
