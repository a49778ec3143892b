"""Rewrites CUDA launches for the CPU emulation:

    kernel<T>(...)<<<grid, block, smem, stream>>>(args)
becomes
    ::emu::launch(::emu::cfg("kernel<T>", __FILE__, __LINE__, grid, block, smem, stream),
                  [&](auto... a) { return [=]() { kernel<T>(a...); }; }(args))

The arguments are evaluated once, at the launch site, and copied into the closure, as CUDA copies
kernel arguments at launch: a graph replay or a later block sees the values of launch time."""


def _matching_open(text, close, open_char, close_char):
    """Index of the bracket that opens the one at `close`, scanning backwards."""
    depth, j = 0, close
    while True:
        if text[j] == close_char:
            depth += 1
        elif text[j] == open_char:
            depth -= 1
            if depth == 0:
                return j
        j -= 1


def _matching_close(text, open_at, open_char, close_char):
    depth, j = 0, open_at
    while True:
        if text[j] == open_char:
            depth += 1
        elif text[j] == close_char:
            depth -= 1
            if depth == 0:
                return j
        j += 1


def rewrite(text, path):
    """Returns (text with every launch rewritten, number of launches)."""
    out, pos, count = [], 0, 0
    while True:
        chevrons = text.find('<<<', pos)
        if chevrons < 0:
            break
        # The kernel expression: a (qualified) name, optionally with template arguments.
        start = chevrons
        while start > 0 and text[start - 1].isspace():
            start -= 1
        if text[start - 1] == '>':
            start = _matching_open(text, start - 1, '<', '>')
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] in '_:'):
            start -= 1
        kernel = text[start:chevrons].strip()
        config_end = text.find('>>>', chevrons)
        config = text[chevrons + 3:config_end]
        args_open = config_end + 3
        while text[args_open].isspace():
            args_open += 1
        assert text[args_open] == '(', 'launch of %s in %s: no argument list' % (kernel, path)
        args_close = _matching_close(text, args_open, '(', ')')
        args = text[args_open + 1:args_close]
        out.append(text[pos:start])
        out.append('::emu::launch(::emu::cfg("%s", __FILE__, __LINE__, %s), '
                   '[&](auto... emu_a_) { return [=]() { %s(emu_a_...); }; }(%s))'
                   % (kernel.replace('"', ''), config, kernel, args))
        pos = args_close + 1
        count += 1
    out.append(text[pos:])
    return ''.join(out), count
