"""The examples run and learn: a short run of each, checked on what it prints."""
import os
import re
import subprocess
import sys

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def run_example(name, *args):
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *args],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_char_transformer_loss_falls_and_it_samples_from_the_prompt():
    out = run_example("char_transformer.py", "--steps", "60", "--dims", "32", "--layers", "1",
                      "--context", "32", "--batch", "16", "--sample-length", "40",
                      "--prompt", "class ")
    first, last = map(float, re.search(r"validation loss ([\d.]+) -> ([\d.]+)", out).groups())
    assert first > 4.0  # about log(vocabulary) before training
    assert last < first - 1.0, out
    sample = out.split("sample:\n", 1)[1]
    assert sample.startswith("class ") and len(sample) >= len("class ") + 40
