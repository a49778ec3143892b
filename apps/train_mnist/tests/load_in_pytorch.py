# Loads a train_mnist checkpoint (safetensors) into the PyTorch Net and tests it on MNIST.
# Usage: python3 load_in_pytorch.py CHECKPOINT [DATA_DIR]   (needs torch, numpy, safetensors)
import sys, torch, torch.nn as nn, torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file
class Net(nn.Module):
    def __init__(s):
        super().__init__(); s.conv1 = nn.Conv2d(1, 10, 5); s.conv2 = nn.Conv2d(10, 20, 5); s.fc1 = nn.Linear(320, 50); s.fc2 = nn.Linear(50, 10)
    def forward(s, x):
        x = F.relu(F.max_pool2d(s.conv1(x), 2)); x = F.relu(F.max_pool2d(s.conv2(x), 2))
        return F.log_softmax(s.fc2(F.relu(s.fc1(x.view(-1, 320)))), 1)
state = load_file(sys.argv[1])
with safe_open(sys.argv[1], "pt") as f: print("metadata:", f.metadata())
model_state = {k: v for k, v in state.items() if not k.startswith("optim.")}
net = Net(); net.load_state_dict(model_state)
import gzip, os, numpy as np
D = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../data/mnist")
b = gzip.open(f"{D}/t10k-images-idx3-ubyte.gz").read(); X = torch.from_numpy(np.frombuffer(b, np.uint8, offset=16).copy()).float().div(255).view(-1,1,28,28)
b = gzip.open(f"{D}/t10k-labels-idx1-ubyte.gz").read(); Y = torch.from_numpy(np.frombuffer(b, np.uint8, offset=8).astype(np.int64))
with torch.no_grad(): acc = (net(X).argmax(1) == Y).float().mean().item()
print("PyTorch Net with Ember's weights: test accuracy %.4f" % acc)
