"""The `relxdata pretrain | finetune | evaluate` commands (torch and transformers load only when one runs)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from relxdata.errors import RelxdataError
from relxdata.relations import NO_RELATION

COMMANDS = ("pretrain", "finetune", "evaluate")
MODEL_HELP = "a local Hugging Face checkpoint directory, or tiny-random / base-random (nothing is downloaded)"


def _runtime_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu, cuda or cuda:N")
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"],
                        help="auto: bf16 autocast on a GPU that has it, fp32 elsewhere")
    parser.add_argument("--max-length", type=int, default=128, help="tokens per sentence, markers included (128)")
    parser.add_argument("--seed", type=int, default=13, help="random seed (default 13)")


def _training_arguments(parser: argparse.ArgumentParser, epochs: int) -> None:
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--model", default="tiny-random", help=MODEL_HELP + " (default tiny-random)")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per optimizer step (default 64)")
    parser.add_argument("--learning-rate", type=float, default=3e-5, help="AdamW's peak learning rate (3e-5)")
    parser.add_argument("--weight-decay", type=float, default=0.1, help="AdamW's weight decay (0.1)")
    parser.add_argument("--warmup-ratio", type=float, default=0.1,
                        help="share of the steps with a linear warm-up; then linear decay to 0 (0.1)")
    parser.add_argument("--epochs", type=int, default=epochs, help=f"passes over the data (default {epochs})")
    _runtime_arguments(parser)


def add_model_commands(commands) -> None:
    pretrain = commands.add_parser(
        "pretrain", help="MTMB pretraining (masked LM + matching) on pair shards",
        description="Pretrains an encoder on build-pairs shards: masked LM on 15% of the tokens plus the "
                    "matching loss on the [E1]/[E2] start states. Use torchrun for several GPUs.")
    pretrain.add_argument("--pairs", required=True, help="a build-pairs output directory (part-*.parquet)")
    _training_arguments(pretrain, epochs=1)
    pretrain.add_argument("--micro-batch-size", type=int, default=0,
                          help="pairs per forward pass and process; the rest is gradient accumulation "
                               "(default: batch size / processes)")
    pretrain.add_argument("--max-steps", type=int, default=0, help="stop after this many optimizer steps")
    pretrain.add_argument("--mlm-probability", type=float, default=0.15, help="share of tokens masked (0.15)")
    pretrain.add_argument("--workers", type=int, default=2, help="DataLoader processes that read and tokenize (2)")
    pretrain.add_argument("--log-every", type=int, default=50, help="steps between log lines (50)")
    pretrain.add_argument("--save-every", type=int, default=1000, help="steps between checkpoints (1000)")
    pretrain.add_argument("--keep-checkpoints", type=int, default=2, help="checkpoints kept (2)")
    pretrain.add_argument("--resume", action="store_true", help="go on from the newest checkpoint in --out")

    finetune = commands.add_parser(
        "finetune", help="train a relation classifier (relx) or HERBERTa's two models (smiler)",
        description="--task relx (default): fine-tunes an encoder (a checkpoint, a pretrain output's final/, or a "
                    "random one) on a KBP-37-format file or a relx-distant corpus with the [CLS] head (the paper) or "
                    "the entity-start head (MTB). --task smiler: trains HERBERTa's relation classifier and entity "
                    "tagger (OUT/classifier, OUT/tagger) on SMiLER TSV files or a smiler corpus, with early stopping "
                    "on --dev.")
    finetune.add_argument("--task", choices=["relx", "smiler"], default="relx", help="what to train (default relx)")
    finetune.add_argument("--train", required=True, nargs="+",
                          help="relx: a KBP-37-format training file, or a relx-distant corpus directory (streamed; the "
                               "labels are its categories); smiler: released-layout TSV files or smiler corpus "
                               "directories (their train split)")
    finetune.add_argument("--dev", nargs="+", help="relx: a KBP-37-format file scored after every epoch; smiler: TSV "
                                                   "files or smiler corpora (their dev split) for early stopping")
    finetune.add_argument("--langs", help="smiler: the languages to train on: codes (de,fr), LANG+EN (de+en), or "
                                          "ALL, EURO, SVO (default: every language of the data)")
    finetune.add_argument("--patience", type=int, default=2,
                          help="smiler: epochs without a better dev score before stopping (default 2)")
    finetune.add_argument("--dev-share", type=float, default=0.0,
                          help="smiler without --dev: hold this share of the training rows out (by id) as the dev "
                               "set, as the released files have none (e.g. 0.05)")
    finetune.add_argument("--head", default="cls", choices=["cls", "entity-start"], help="the classifier head")
    finetune.add_argument("--negative-label", default=NO_RELATION, help=f"the no-relation label ({NO_RELATION})")
    finetune.add_argument("--workers", type=int, default=2, help="DataLoader processes for a corpus directory (2)")
    _training_arguments(finetune, epochs=3)

    evaluate = commands.add_parser(
        "evaluate", help="score a fine-tuned model on KBP-37 / RELX files, or HERBERTa on SMiLER files",
        description="--task relx (default): predicts every example of each file, scores it with the official "
                    "SemEval-2010 Task 8 macro-F1 and prints a table per file (RELX_en.txt -> en). --task smiler: "
                    "the classifier's relation feeds the tagger on every sentence; prints SMiLER's relation, "
                    "entity-pair and combined micro-F1 per language and label.")
    evaluate.add_argument("--task", choices=["relx", "smiler"], default="relx", help="what to evaluate (default relx)")
    evaluate.add_argument("--model", required=True,
                          help="relx: a finetune output's final/ directory; smiler: a finetune --task smiler output")
    evaluate.add_argument("--data", required=True, nargs="+",
                          help="relx: KBP-37-format files, e.g. the five RELX_*.txt; smiler: released-layout TSV "
                               "files (e.g. en-mid_corpora_test.tsv) or smiler corpora (their test split)")
    evaluate.add_argument("--langs", help="smiler: only these languages (as for finetune)")
    evaluate.add_argument("--n-best", type=int, default=0,
                          help="smiler: also write the N best entity pairs of each sentence to OUT/{name}.nbest.jsonl")
    evaluate.add_argument("--out", help="write {file}.pred, results.json and results.md here")
    evaluate.add_argument("--batch-size", type=int, default=64, help="examples per forward pass (64)")
    evaluate.add_argument("--negative-label", default=NO_RELATION, help=f"the no-relation label ({NO_RELATION})")
    _runtime_arguments(evaluate)


def _positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        if getattr(args, name) < 1:
            raise RelxdataError(f"--{name.replace('_', '-')} must be positive")


def run_model_command(args: argparse.Namespace) -> None:
    missing = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
    if missing:
        raise RelxdataError(f"relxdata {args.command} needs {' and '.join(missing)}: pip install 'relxdata[model]' "
                            "(with the torch build for your machine)")
    from transformers.utils import logging as transformers_logging
    transformers_logging.disable_progress_bar()  # per-file bars for every checkpoint save and load
    if args.command == "pretrain":
        from model.pretrain import PretrainConfig, pretrain
        _positive(args, "batch_size", "epochs", "max_length", "log_every", "save_every", "keep_checkpoints")
        config = PretrainConfig(
            pairs=args.pairs, out=args.out, model=args.model, max_length=args.max_length, batch_size=args.batch_size,
            micro_batch_size=args.micro_batch_size, learning_rate=args.learning_rate, weight_decay=args.weight_decay,
            warmup_ratio=args.warmup_ratio, epochs=args.epochs, max_steps=args.max_steps,
            mlm_probability=args.mlm_probability, seed=args.seed, workers=args.workers, log_every=args.log_every,
            save_every=args.save_every, keep_checkpoints=args.keep_checkpoints, resume=args.resume,
            device=args.device, precision=args.precision)
        summary = pretrain(config)
        print(f"{summary['steps']:,} steps; the model is in {summary['final']}")
    elif args.command == "finetune" and args.task == "smiler":
        from model.herberta import HerbertaConfig, finetune_herberta
        _positive(args, "batch_size", "epochs", "max_length", "patience")
        if not 0.0 <= args.dev_share < 1.0:
            raise RelxdataError("--dev-share takes a share between 0 and 1")
        config = HerbertaConfig(
            train=args.train, out=args.out, dev=args.dev or [], model=args.model, langs=args.langs,
            max_length=args.max_length, batch_size=args.batch_size, learning_rate=args.learning_rate,
            weight_decay=args.weight_decay, warmup_ratio=args.warmup_ratio, epochs=args.epochs,
            patience=args.patience, dev_share=args.dev_share, seed=args.seed, device=args.device,
            precision=args.precision, negative_label=args.negative_label)
        summary = finetune_herberta(config)
        print(f"the classifier is in {Path(args.out) / 'classifier'}, the tagger in {Path(args.out) / 'tagger'} "
              f"({summary['train_examples']:,} training rows, {summary['skipped_rows']} skipped)")
    elif args.command == "finetune":
        from model.finetune import FinetuneConfig, finetune
        _positive(args, "batch_size", "epochs", "max_length")
        for option in ("train", "dev"):
            if len(getattr(args, option) or []) > 1:
                raise RelxdataError(f"--{option} takes one file for --task relx")
        config = FinetuneConfig(
            train=args.train[0], out=args.out, model=args.model, head=args.head, dev=(args.dev or [None])[0],
            max_length=args.max_length, batch_size=args.batch_size, learning_rate=args.learning_rate,
            weight_decay=args.weight_decay, warmup_ratio=args.warmup_ratio, epochs=args.epochs, seed=args.seed,
            device=args.device, precision=args.precision, negative_label=args.negative_label, workers=args.workers)
        summary = finetune(config)
        print(f"the classifier is in {summary['final']}")
    elif args.task == "smiler":
        from model.herberta import evaluate_herberta, results_table
        _positive(args, "batch_size", "max_length")
        results = evaluate_herberta(args.model, args.data, args.out, langs=args.langs, batch_size=args.batch_size,
                                    max_length=args.max_length, device=args.device, precision=args.precision,
                                    negative_label=args.negative_label, n_best=args.n_best)
        print("\n\n".join(results_table(result) for result in results))
    else:
        from model.finetune import evaluate, results_table
        _positive(args, "batch_size", "max_length")
        for path in args.data:
            if not Path(path).is_file():
                raise RelxdataError(f"{path}: no such file")
        results = evaluate(args.model, args.data, args.out, batch_size=args.batch_size, device=args.device,
                           precision=args.precision, negative_label=args.negative_label,
                           max_length=args.max_length)
        print(results_table(results))
