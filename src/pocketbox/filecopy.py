"""Copying file contents between open fds, keeping holes: a sparse file stays sparse, so a tiny
layer or image file that claims gigabytes costs only the blocks it really has."""
import errno
import os

CHUNK = 1 << 20


def copy_file_fd(src: int, dst: int, size: int) -> None:
    """Copy `size` bytes from `src` to `dst` at the same offsets: data extents are copied (in the
    kernel where it can), holes skipped, and the length set at the end."""
    pos = 0
    while pos < size:
        try:
            data = os.lseek(src, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno != errno.ENXIO:  # ENXIO: only a hole is left
                raise
            break
        hole = min(os.lseek(src, data, os.SEEK_HOLE), size)
        _copy_range(src, dst, data, hole)
        pos = hole
    os.ftruncate(dst, size)


def _copy_range(src: int, dst: int, start: int, end: int) -> None:
    while start < end:
        try:
            n = os.copy_file_range(src, dst, end - start, start, start)
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            n = os.pwrite(dst, os.pread(src, min(CHUNK, end - start), start), start)
        if n == 0:
            return
        start += n
