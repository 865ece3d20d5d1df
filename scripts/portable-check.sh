#!/usr/bin/env bash
# The part of hearth that builds on macOS, held on Linux to what macOS
# offers. Usage: portable-check.sh "CC FLAGS" FILE...
# The Makefile has compiled and linked each file without _GNU_SOURCE
# (POSIX 2008 + XSI + BSD, as Darwin shows them) and with HEARTH_PORTABLE
# (compat.h's non-Linux side). Here, preprocessed the same way, no file
# of ours may include a Linux-only header or use what only Linux has
# (glibc shows some of it to every program).
set -u
cc=$1
shift
defs='-DHEARTH_VERSION="portable" -DHEARTH_DATADIR="/" -DHEARTH_LIBEXECDIR="/"'
# Headers macOS lacks, or has with other contents.
bad_headers='/(linux|asm|asm-generic|libmnl)/|/sys/(epoll|signalfd|eventfd|timerfd|inotify|prctl|vfs|statfs|sendfile|xattr|mount|random|auxv|personality|capability|fanotify)\.h$|/mntent\.h$'
# Calls and flags only Linux has.
bad_names='pipe2|accept4|dup3|memfd_create|renameat2|openat2|O_PATH|O_TMPFILE|AT_EMPTY_PATH|SOCK_CLOEXEC|SOCK_NONBLOCK|getrandom|explicit_bzero|signalfd|epoll_[a-z_]+|unshare|setns|copy_file_range|SEEK_DATA|SEEK_HOLE|prctl|getauxval|fallocate|syncfs|sendfile|splice|ppoll|statfs|strchrnul|memrchr|mempcpy|program_invocation_name|canonicalize_file_name|get_current_dir_name|F_SETPIPE_SZ|MFD_CLOEXEC'
failed=0
for f in "$@"; do
	# shellcheck disable=SC2086 # the flags are words
	$cc $defs -E "$f" | python3 -c '
import re, sys
bad = re.compile(r"\b(" + sys.argv[1] + r")\b")
bad_header = re.compile(sys.argv[2])
# Line markers: # LINE "FILE" FLAGS; flag 1 enters FILE, 2 returns to it.
stack, n, failed = [], 0, False
ours = lambda f: not f.startswith("/") and not f.startswith("<")
for line in sys.stdin:
    m = re.match(r"# (\d+) \"([^\"]+)\"((?: \d)*)", line)
    if m:
        n, where, flags = int(m.group(1)), m.group(2), m.group(3).split()
        if "1" in flags:
            if stack and ours(stack[-1]) and bad_header.search(where):
                print("portable-check: %s includes %s, which macOS lacks or has otherwise" % (stack[-1], where))
                failed = True
            stack.append(where)
        elif "2" in flags:
            while stack and stack[-1] != where:
                stack.pop()
        elif not stack:
            stack.append(where)
        continue
    if stack and ours(stack[-1]):
        hit = bad.search(line)
        if hit:
            print("portable-check: %s:%d uses %s, which only Linux has" % (stack[-1], n, hit.group(1)))
            failed = True
    n += 1
sys.exit(1 if failed else 0)
' "$bad_names" "$bad_headers" >&2 || failed=1
done
[ $failed = 0 ] && echo "portable-check: $# files hold to what macOS offers"
exit $failed
