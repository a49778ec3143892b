#!/usr/bin/env python3
"""Mirrors Ember's sources into BUILD/src for the CPU emulation, with every CUDA launch rewritten
(rewrite_launches.py), and writes BUILD/include: the <ember/...> link to the mirror and the version
header CMake would generate. A file is rewritten only when its text changed, so make rebuilds only
what changed; files that disappeared from the repository are removed from the mirror.
Usage: mirror.py REPO BUILD"""
import os
import re
import sys

from rewrite_launches import rewrite

SOURCE_DIRS = ['core', 'autograd', 'ops', 'kernels', 'nn', 'optim', 'data', 'dist', 'tests', 'apps/train_mnist', 'apps/common']
SOURCE_SUFFIXES = ('.h', '.cpp', '.cu', '.cuh', '.in')
# The emulator's own sources compiled like Ember's (launches rewritten): they land in BUILD/src/emu.
EMU_SOURCES = ['selftest.cu', 'selftest_capture.cu', 'test_emu_probe.cpp', 'step_marks.cpp']


def read(path):
    with open(path, encoding='utf-8', errors='surrogateescape') as f:
        return f.read()


def write_if_changed(path, text):
    if os.path.exists(path) and read(path) == text:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8', errors='surrogateescape') as f:
        f.write(text)


def with_launches_rewritten(rel, text):
    if rel.endswith(('.cu', '.cuh')) or rel.startswith(('kernels/cuda/', 'core/cuda/')):
        return rewrite(text, rel)
    return text, 0


def main():
    repo, build = (os.path.abspath(p) for p in sys.argv[1:3])
    emu = os.path.dirname(os.path.abspath(__file__))
    mirror = os.path.join(build, 'src')
    wanted, launches = set(), 0

    def put(rel, text):
        nonlocal launches
        text, n = with_launches_rewritten(rel, text)
        launches += n
        wanted.add(rel)
        write_if_changed(os.path.join(mirror, rel), text)

    for top in SOURCE_DIRS:
        for root, dirs, files in os.walk(os.path.join(repo, top)):
            dirs[:] = [d for d in dirs if os.path.join(root, d) != emu and not d.startswith('build')]
            for f in files:
                if f.endswith(SOURCE_SUFFIXES):
                    path = os.path.join(root, f)
                    put(os.path.relpath(path, repo), read(path))
    put('ember.h', read(os.path.join(repo, 'ember.h')))
    for f in EMU_SOURCES:
        put('emu/' + f, read(os.path.join(emu, f)))

    for root, _, files in os.walk(mirror):
        for f in files:
            path = os.path.join(root, f)
            if os.path.relpath(path, mirror) not in wanted:
                os.remove(path)

    # core/version.h.in filled in from project(... VERSION x.y.z) as CMake's configure_file does.
    version = re.search(r'project\(\s*\w+\s+VERSION\s+(\d+)\.(\d+)\.(\d+)', read(os.path.join(repo, 'CMakeLists.txt')))
    header = read(os.path.join(repo, 'core/version.h.in'))
    for key, value in [('PROJECT_VERSION_MAJOR', version.group(1)), ('PROJECT_VERSION_MINOR', version.group(2)),
                       ('PROJECT_VERSION_PATCH', version.group(3)), ('PROJECT_VERSION', '.'.join(version.groups()))]:
        header = header.replace('@%s@' % key, value)
    write_if_changed(os.path.join(build, 'include/ember_generated/version.h'), header)
    link = os.path.join(build, 'include/ember')
    if not os.path.islink(link):
        os.symlink(mirror, link)
    print('emu: mirrored %d files, %d launches rewritten' % (len(wanted), launches))


main()
