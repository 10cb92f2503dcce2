"""Folders a sandbox wrote, measured and removed whatever their shape.

    tree_bytes(root)    the space the files under `root` take
    remove_tree(root)   delete `root` and everything under it

A sandbox may leave a million entries, folders nested ten thousand deep (past Python's recursion
limit and past PATH_MAX), folders without permissions, and links. Both walk without recursion,
one descriptor at a time, by names relative to the folder they are in (never by full path), and
never follow a link.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _walk(root: Path, on_file: Callable[[int, os.DirEntry], None],
          on_folder_done: Callable[[int, str], None] | None = None,
          opening: Callable[[int, str], None] | None = None) -> None:
    """Visit every entry under `root`, depth first, holding one open folder at a time.

    on_file(folder_fd, entry) for each non-folder; opening(folder_fd, name) before a subfolder
    is entered; on_folder_done(parent_fd, name) once a subfolder and all below it are visited.
    """
    fd = os.open(root, _DIR)
    pending: list[list[str]] = []  # per level: the subfolders still to visit
    names: list[str] = []  # the folders entered below root
    try:
        pending.append(_scan(fd, on_file))
        while pending:
            if pending[-1]:
                name = pending[-1].pop()
                try:
                    if opening is not None:
                        opening(fd, name)
                    child = os.open(name, _DIR, dir_fd=fd)
                except OSError:
                    continue
                os.close(fd)
                fd = child
                names.append(name)
                pending.append(_scan(fd, on_file))
                continue
            pending.pop()
            if not names:
                break
            parent = os.open("..", _DIR, dir_fd=fd)
            os.close(fd)
            fd = parent
            if on_folder_done is not None:
                on_folder_done(fd, names[-1])
            names.pop()
    finally:
        os.close(fd)


def _scan(fd: int, on_file: Callable[[int, os.DirEntry], None]) -> list[str]:
    """The subfolders of the open folder `fd`; `on_file` is called for everything else."""
    folders = []
    try:
        with os.scandir(fd) as listing:
            for entry in listing:
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if is_dir:
                    folders.append(entry.name)
                else:
                    on_file(fd, entry)
    except OSError:
        pass
    return folders


ENTRY_COST = 4096  # what an entry costs even when empty: it takes one of the file system's inodes


def tree_bytes(root: Path) -> int:
    """The space the entries under `root` take: their allocated blocks, and `ENTRY_COST` for
    each (a million empty files exhaust a tmpfs's inodes though they hold no byte); 0 if it
    cannot be read."""
    total = 0

    def add(_fd: int, entry: os.DirEntry) -> None:
        nonlocal total
        total += ENTRY_COST
        try:
            total += entry.stat(follow_symlinks=False).st_blocks * 512
        except OSError:
            pass

    def enter(_fd: int, _name: str) -> None:
        nonlocal total
        total += ENTRY_COST

    try:
        _walk(Path(root), add, opening=enter)
    except OSError:
        pass
    return total


def remove_tree(root: Path) -> None:
    """Delete `root` and all below it, as far as this process may (errors are ignored)."""
    root = Path(root)
    try:
        info = os.lstat(root)
    except OSError:
        return
    if not stat.S_ISDIR(info.st_mode):
        _quietly(os.unlink, root)
        return
    _quietly(os.chmod, root, 0o700)

    def unlink(fd: int, entry: os.DirEntry) -> None:
        _quietly(os.unlink, entry.name, dir_fd=fd)

    def opening(fd: int, name: str) -> None:  # a folder the sandbox made unreadable
        _quietly(os.chmod, name, 0o700, dir_fd=fd)  # a folder, not a link: it was scanned

    def rmdir(fd: int, name: str) -> None:
        _quietly(os.rmdir, name, dir_fd=fd)

    try:
        _walk(root, unlink, rmdir, opening)
    except OSError:
        pass
    _quietly(os.rmdir, root)


def _quietly(call, *args, **kwargs) -> None:
    try:
        call(*args, **kwargs)
    except (OSError, NotImplementedError):
        pass
