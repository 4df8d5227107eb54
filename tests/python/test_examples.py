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


def test_train_digits_reaches_97_percent_and_its_saved_weights_reload(tmp_path):
    # README's main job, both models: it exits non-zero below 97% or when a fresh model
    # loaded from the saved weights scores differently.
    for model, weights in (("cnn", "w.safetensors"), ("mlp", "w.npz")):
        out = run_example("train_digits.py", "--model", model, "--plot",
                          str(tmp_path / f"{model}.png"), "--weights", str(tmp_path / weights))
        trained = float(re.search(r"test accuracy ([\d.]+)", out).group(1))
        reloaded = float(re.search(r"loaded from them scores ([\d.]+)", out).group(1))
        assert trained >= 0.97 and reloaded == trained, out
        assert (tmp_path / f"{model}.png").stat().st_size > 1000
        assert (tmp_path / weights).exists()
