"""Process-wide settings for a training run: for entry points (commands, benchmarks, tests)
to call once, never the library itself."""

from __future__ import annotations

import ctypes

import torch


def configure(threads: int = 2) -> None:
    """Torch threads, deterministic kernels (identical runs give identical models: with two
    threads some kernels otherwise accumulate in a varying order, measured 7e-7 apart),
    and glibc's reuse of freed tensor memory."""
    torch.set_num_threads(max(1, threads))
    torch.use_deterministic_algorithms(True)
    _keep_freed_memory()


def _keep_freed_memory() -> None:
    """Ask glibc to reuse freed tensor memory instead of unmapping it.

    Every step allocates catalogue-sized tensors; by default glibc serves those
    with fresh mmaps and returns them on free, so each step pays page faults on
    all of them again (measured 2-4x slower steps on our VMs). Linux/glibc only.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
    libc.mallopt(m_trim_threshold, 1024 * 1024 * 1024)
    libc.mallopt(m_top_pad, 256 * 1024 * 1024)
