#!/usr/bin/env python3
"""Reads every run under a log directory with TensorBoard's own Python
`EventAccumulator` (keeping every event) and prints what it holds as one JSON object:

  {"runs": {run: {
      "tensors": {tag: {"plugin": name, "content": {...}, "points": [
          {"step": s, "dtype": "float32", "shape": [...], "value": ...}, ...]}},
      "other": {"scalars": [...], "histograms": [...], "images": [...], ...}}}}

`run` is the directory relative to LOGDIR ("." for LOGDIR itself), with "/" separators.
Tensor values come from `tensor_util.make_ndarray(...).tolist()`; non-finite floats
become the strings "NaN", "Infinity" and "-Infinity"; each string element becomes its
UTF-8 text, or {"png": [width, height]} for a PNG, or {"bytes": n} otherwise.
"content" is the plugin content decoded (protobuf JSON mapping) for the hparams and
pr_curves plugins, {} for the others. "other"
lists the tags of the legacy (non-tensor) kinds, which TF2-style files leave empty.

usage: read_event_accumulator.py LOGDIR
"""
import json
import math
import os
import struct
import sys

from tensorboard.backend.event_processing import event_accumulator as ea
from google.protobuf import json_format
from tensorboard.plugins.hparams import plugin_data_pb2 as hparams_pb2
from tensorboard.plugins.pr_curve import plugin_data_pb2 as pr_curve_pb2
from tensorboard.util import tensor_util

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
KEEP_ALL = {
    ea.COMPRESSED_HISTOGRAMS: 0,
    ea.IMAGES: 0,
    ea.AUDIO: 0,
    ea.SCALARS: 0,
    ea.HISTOGRAMS: 0,
    ea.TENSORS: 0,
}


def jsonable(v):
    """Makes a `tolist()` result JSON-safe (see the module doc)."""
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, bytes):
        if v.startswith(PNG_MAGIC) and len(v) >= 24:
            width, height = struct.unpack(">II", v[16:24])
            return {"png": [width, height]}
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            return {"bytes": len(v)}
    return v


def decode_content(plugin_data):
    """The plugin content as a dict, for the plugins whose content is a message."""
    message = {"hparams": hparams_pb2.HParamsPluginData, "pr_curves": pr_curve_pb2.PrCurvePluginData}.get(
        plugin_data.plugin_name
    )
    if message is None:
        return {}
    parsed = message.FromString(plugin_data.content)
    return json_format.MessageToDict(parsed, preserving_proto_field_name=True)


def run_dirs(logdir):
    """Directories under `logdir` that directly hold an event file."""
    for root, _dirs, files in sorted(os.walk(logdir)):
        if any("tfevents" in f for f in files):
            rel = os.path.relpath(root, logdir)
            yield rel.replace(os.sep, "/"), root


def read_run(path):
    acc = ea.EventAccumulator(path, size_guidance=KEEP_ALL)
    acc.Reload()
    tags = acc.Tags()
    tensors = {}
    for tag in tags.get(ea.TENSORS, []):
        points = []
        for event in acc.Tensors(tag):
            proto = event.tensor_proto
            array = tensor_util.make_ndarray(proto)
            points.append({
                "step": int(event.step),
                "dtype": str(array.dtype) if array.dtype.kind != "O" else "string",
                "shape": [int(d) for d in array.shape],
                "value": jsonable(array.tolist()),
            })
        plugin_data = acc.SummaryMetadata(tag).plugin_data
        tensors[tag] = {
            "plugin": plugin_data.plugin_name,
            "content": decode_content(plugin_data),
            "points": points,
        }
    other = {k: v for k, v in tags.items() if k != ea.TENSORS and isinstance(v, list) and v}
    return {"tensors": tensors, "other": other}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    runs = {name: read_run(path) for name, path in run_dirs(sys.argv[1])}
    json.dump({"runs": runs}, sys.stdout, allow_nan=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
