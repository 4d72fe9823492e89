"""``codellama-lite model presets|costs|convert``: chapter 2's shapes, costs and checkpoint conversion."""

from __future__ import annotations

import argparse
from pathlib import Path

from codellama_lite import interop
from codellama_lite.config import PAPER_PARAMS_B, PRESETS, param_count
from codellama_lite.costs import format_cost_table, training_cost

FORMATS = ("meta", "hf")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("model", help="model presets, cost estimates, checkpoint conversion")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    presets = actions.add_parser("presets", help="print every preset's shape and exact parameter count")
    presets.add_argument("--vocab-size", type=int, default=None, help="override every preset's vocabulary")
    presets.set_defaults(func=_presets)

    costs = actions.add_parser("costs", help="FLOPs per token, training memory and minimum A100-80GB count")
    costs.add_argument("names", nargs="*", default=["7b", "13b", "34b", "70b"], help="presets (default 7b … 70b)")
    costs.add_argument("--seq-len", type=int, default=4096, help="training sequence length for FLOPs and activations")
    costs.set_defaults(func=_costs)

    convert = actions.add_parser("convert", help="convert a checkpoint between Meta's and Hugging Face's formats")
    convert.add_argument("source", type=Path, help="checkpoint directory")
    convert.add_argument("output", type=Path, help="directory to write")
    convert.add_argument("--from", dest="source_format", choices=FORMATS, required=True,
                         help="the checkpoint format to read")
    convert.add_argument("--to", dest="output_format", choices=FORMATS, required=True,
                         help="the checkpoint format to write")
    convert.add_argument("--shards", type=int, default=1, help="model-parallel files to write for --to meta")
    convert.set_defaults(func=_convert)


def _presets(args: argparse.Namespace) -> int:
    print(f"{'preset':>6} {'dim':>5} {'layers':>6} {'heads':>5} {'kv':>3} {'ffn':>6} {'vocab':>6} {'theta':>7} "
          f"{'parameters':>15} {'published':>9}")
    for name, config in PRESETS.items():
        if args.vocab_size is not None:
            config = config.replace(vocab_size=args.vocab_size)
        paper = f"{PAPER_PARAMS_B[name]}B" if name in PAPER_PARAMS_B else ""
        print(f"{name:>6} {config.dim:5d} {config.n_layers:6d} {config.n_heads:5d} {config.kv_heads:3d} "
              f"{config.hidden_dim:6d} {config.vocab_size:6d} {config.rope_theta:7.0e} {param_count(config):15,d} "
              f"{paper:>9}")
    return 0


def _costs(args: argparse.Namespace) -> int:
    print(format_cost_table([training_cost(name, seq_len=args.seq_len) for name in args.names]))
    return 0


def _convert(args: argparse.Namespace) -> int:
    load = {"meta": interop.import_meta, "hf": interop.import_hf}[args.source_format]
    model = load(args.source)
    if args.output_format == "meta":
        interop.export_meta(model, args.output, num_shards=args.shards)
    else:
        interop.export_hf(model, args.output)
    print(f"wrote {args.output_format} checkpoint of {model.num_params():,} parameters to {args.output}")
    return 0
