"""Trains a small network on scikit-learn's handwritten digits (8x8 images that ship inside
the scikit-learn package, no download) with pullback.nn, nn.value_and_grad and Adam, reports
test accuracy, plots the loss and accuracy curves to a PNG, and saves the weights, which a
fresh model then loads and must score the same accuracy with.

Run: pip install .[examples] && python examples/train_digits.py [--model cnn|mlp]
"""

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from tqdm import tqdm  # noqa: E402

import pullback.core as mx  # noqa: E402
import pullback.nn as nn  # noqa: E402
import pullback.optimizers as optim  # noqa: E402


class CNN(nn.Module):
    """Two 3x3 convolutions with max pooling (8x8 -> 4x4 -> 2x2), then two linear layers."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(2 * 2 * 32, 64)
        self.fc2 = nn.Linear(64, 10)

    def __call__(self, x):
        x = self.pool(nn.relu(self.conv1(x.reshape(-1, 8, 8, 1))))
        x = self.pool(nn.relu(self.conv2(x)))
        return self.fc2(nn.relu(self.fc1(x.reshape(x.shape[0], -1))))


class MLP(nn.Module):
    """64 -> 128 -> 10 with a ReLU."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))

    def __call__(self, x):
        return self.layers(x)


def accuracy(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=1) == y).item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["cnn", "mlp"], default="cnn")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                       "train_digits.png"),
                        help="where to write the loss/accuracy plot (PNG)")
    parser.add_argument("--weights",
                        default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                             "train_digits.safetensors"),
                        help="where to save the trained weights (.safetensors or .npz)")
    args = parser.parse_args()

    # The seed example: d/dx sin(x) at 0 is cos(0) = 1.
    print("grad(sin)(0.0) =", mx.grad(mx.sin)(mx.array(0.0)).item())

    mx.random.seed(args.seed)
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int32)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    split = int(0.8 * len(x))
    x_test, y_test = mx.array(x[split:]), mx.array(y[split:])
    x, y = x[:split], y[:split]

    model = CNN() if args.model == "cnn" else MLP()
    optimizer = optim.Adam(learning_rate=args.lr)

    def loss_fn(xb, yb):
        return nn.losses.cross_entropy(model(xb), yb, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    losses, accuracies = [], []
    start = time.perf_counter()
    bar = tqdm(range(args.epochs), desc=args.model, unit="epoch")
    for _ in bar:
        perm = rng.permutation(split)
        total = 0.0
        for i in range(0, split, args.batch_size):
            idx = perm[i:i + args.batch_size]
            loss, grads = loss_and_grad(mx.array(x[idx]), mx.array(y[idx]))
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, loss)
            total += loss.item() * len(idx)
        losses.append(total / split)
        accuracies.append(accuracy(model, x_test, y_test))
        bar.set_postfix(loss=f"{losses[-1]:.4f}", test_acc=f"{accuracies[-1]:.3f}")
    elapsed = time.perf_counter() - start

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    epochs = np.arange(1, args.epochs + 1)
    left.plot(epochs, losses)
    left.set(xlabel="epoch", ylabel="train loss", title="loss")
    right.plot(epochs, accuracies)
    right.set(xlabel="epoch", ylabel="test accuracy", title="accuracy")
    fig.tight_layout()
    fig.savefig(args.plot, dpi=100)

    final = accuracies[-1]
    print(f"{args.model}: test accuracy {final:.3f} after {args.epochs} epochs in {elapsed:.1f} s;"
          f" plot written to {args.plot}")
    if final < 0.97:
        raise SystemExit("training did not reach 97% test accuracy")

    # The saved weights, loaded into a fresh (differently initialized) model, score the same.
    model.save_weights(args.weights)
    fresh = CNN() if args.model == "cnn" else MLP()
    fresh.load_weights(args.weights)
    reloaded = accuracy(fresh, x_test, y_test)
    print(f"weights saved to {args.weights}; a fresh {args.model} loaded from them scores "
          f"{reloaded:.3f}")
    if reloaded != final:
        raise SystemExit(f"the reloaded weights score {reloaded:.3f}, not {final:.3f}")


if __name__ == "__main__":
    main()
