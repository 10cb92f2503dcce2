"""Train notebook 10's character GPT (the shipped run) and save its weights.

Writes attn_course/data/char_gpt.pt: the state dict (float32), the vocabulary size, and the
record the notebook quotes (validation loss, the training loss every 10 steps, steps, seconds,
the machine). About 2 minutes on 2 CPU cores.

    python scripts/char_gpt_weights.py
    python scripts/char_gpt_weights.py --steps 300 --out /tmp/check.pt
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import torch

from attn_course.experiments.char_gpt import TRAIN_STEPS, WEIGHTS_FILE, Characters, load_text, train

OUT = Path(__file__).resolve().parent.parent / "attn_course" / "data" / WEIGHTS_FILE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=TRAIN_STEPS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    model, history = train(args.steps, seed=0)
    record = {"steps": args.steps, "seed": 0, "val_loss": round(history["val_loss"], 4),
              "loss": [round(v, 4) for v in history["loss"][::10]],
              "seconds": round(history["seconds"], 1),
              "machine": f"{platform.machine()}, {torch.get_num_threads()} threads"}
    payload = {"state_dict": {k: v.contiguous() for k, v in model.state_dict().items()},
               "vocab_size": len(Characters(load_text())), "record": record}
    torch.save(payload, args.out)
    print(f"val loss {record['val_loss']:.3f} after {args.steps} steps "
          f"({record['seconds']:.0f} s) -> {args.out}")


if __name__ == "__main__":
    main()
