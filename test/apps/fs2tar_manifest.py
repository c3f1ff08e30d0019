#!/usr/bin/env python3
"""What the host kernel reports for every object under a directory, as JSON on stdout.

Usage: fs2tar_manifest.py ROOT

One record per object, the root itself as path "" and the others as "a/b" (never following
symlinks). Names and byte strings are hex so names that are not UTF-8 compare exactly:
  path (hex), type (file|dir|symlink|char|block|fifo|socket), mode (permission bits), uid, gid,
  size (files), nlink, mtime_ns, atime_ns, rdev [major, minor] (devices), link (hex target),
  xattrs {name: hex value}, sha256 (files), inode "dev:ino".
"""
import hashlib
import json
import os
import stat
import sys


def kind(m):
    for test, name in ((stat.S_ISREG, 'file'), (stat.S_ISDIR, 'dir'), (stat.S_ISLNK, 'symlink'),
                       (stat.S_ISCHR, 'char'), (stat.S_ISBLK, 'block'), (stat.S_ISFIFO, 'fifo'),
                       (stat.S_ISSOCK, 'socket')):
        if test(m):
            return name
    return 'unknown'


def record(root, rel):
    full = os.path.join(root, rel) if rel else root
    st = os.lstat(full)
    r = {
        'path': rel.hex(), 'type': kind(st.st_mode), 'mode': stat.S_IMODE(st.st_mode),
        'uid': st.st_uid, 'gid': st.st_gid, 'nlink': st.st_nlink,
        # As strings: JSON numbers lose nanoseconds in a JS double.
        'mtime_ns': str(st.st_mtime_ns), 'atime_ns': str(st.st_atime_ns),
        'inode': '%d:%d' % (st.st_dev, st.st_ino),
    }
    xattrs = {}
    try:
        names = os.listxattr(full, follow_symlinks=False)
    except OSError:
        names = []
    for n in names:
        try:
            xattrs[n] = os.getxattr(full, n, follow_symlinks=False).hex()
        except OSError:
            pass
    r['xattrs'] = xattrs
    if stat.S_ISREG(st.st_mode):
        r['size'] = st.st_size
        r['_full'] = full  # hashed after every lstat: reading moves atimes (relatime)
    elif stat.S_ISLNK(st.st_mode):
        r['link'] = os.readlink(full).hex()
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        r['rdev'] = [os.major(st.st_rdev), os.minor(st.st_rdev)]
    return r, stat.S_ISDIR(st.st_mode)


def walk(root):
    out = []
    todo = [b'']
    while todo:
        rel = todo.pop()
        r, is_dir = record(root, rel)
        out.append(r)
        if is_dir:
            full = os.path.join(root, rel) if rel else root
            for name in sorted(os.listdir(full), reverse=True):
                todo.append(os.path.join(rel, name) if rel else name)
    return out


def sha256(full):
    h = hashlib.sha256()
    with open(full, 'rb') as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


if __name__ == '__main__':
    records = walk(os.fsencode(sys.argv[1]))
    for r in records:
        full = r.pop('_full', None)
        if full is not None:
            r['sha256'] = sha256(full)
    json.dump(records, sys.stdout)
