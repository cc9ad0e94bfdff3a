"""models.py - the models tests/torch compares with PyTorch: each example
and a model per group of stdlib layers (tests/torch/models/*.dml), written
a second time in PyTorch, independently of dmlc.

Each model gives its source, the sizes of its symbolic dimensions, its
inputs (drawn from a numpy Generator) and its loss in PyTorch as a
function of the params and inputs (dicts of float64 tensors, by name);
`fns` are functions of the program compared by value (name -> PyTorch
function of params and that function's inputs).
"""
import torch
import torch.nn.functional as F


def softplus(z):
    return torch.logaddexp(torch.zeros_like(z), z)


def bce(z, y):
    return torch.mean(softplus(z) - y * z)


def l2(*ts):
    return sum(torch.sum(t * t) for t in ts)


def labels(rng, n, k):
    return rng.integers(0, k, size=n).astype("int32")


def normal(rng, *shape):
    return rng.standard_normal(shape)


class Model:
    def __init__(self, source, sizes, inputs, loss, fns=None, scale=1.0, fixed=None):
        self.source, self.sizes, self.inputs, self.loss = source, sizes, inputs, loss
        self.fns = fns or {}
        self.scale = scale  # of the random params
        self.fixed = fixed or {}  # params given a value rather than drawn


# ---- the examples ----------------------------------------------------------

def linreg_predict(p, x):
    return x @ p["w"] + p["b"]


def logreg_logits(p, x):
    return x @ p["w"] + p["b"]


def mlp_predict(p, x):
    h = torch.relu((x / 16) @ p["W1"] + p["b1"])
    return h @ p["W2"] + p["b2"]


def cnn_features(p, x):
    h = torch.relu(F.conv2d(x, p["K1"], padding=1) + p["b1"].reshape(1, 16, 1, 1))
    h = torch.relu(F.conv2d(h, p["K2"], padding=1) + p["b2"].reshape(1, 32, 1, 1))
    return torch.flatten(F.max_pool2d(h, 2), 1)


def cnn_predict(p, x):
    return cnn_features(p, x / 16) @ p["W"] + p["b"]


def rnn_encode(p, img):
    h = torch.zeros(img.shape[0], 64, dtype=img.dtype)
    for t in range(8):
        h = torch.tanh(img[:, t] @ p["Wx"] + h @ p["Wh"] + p["bh"])
    return h


def rnn_predict(p, img):
    return rnn_encode(p, img / 16) @ p["Wo"] + p["bo"]


def sines_predict(p, xs):
    h = torch.zeros(xs.shape[0], 32, dtype=xs.dtype)
    ys = []
    for t in range(20):
        h = torch.tanh(xs[:, t:t + 1] * p["Wx"] + h @ p["Wh"] + p["bh"])
        ys.append(h @ p["V"] + p["c"])
    return torch.stack(ys, dim=1)


def logreg_inputs(rng, n):
    return {"x": normal(rng, n, 30), "y": rng.integers(0, 2, size=n).astype("float64")}


def digits(rng, n):
    return rng.uniform(0, 16, size=(n, 64))


EXAMPLES = {
    "linreg": Model("linreg.dml", {"n": 6},
                    lambda rng, n: {"x": normal(rng, n, 10), "y": normal(rng, n)},
                    lambda p, x: torch.mean((linreg_predict(p, x["x"]) - x["y"]) ** 2),
                    {"predict": lambda p, x: linreg_predict(p, x["x"])}),
    "logreg": Model("logreg.dml", {"n": 6}, logreg_inputs,
                    lambda p, x: bce(logreg_logits(p, x["x"]), x["y"]) + 1e-3 * l2(p["w"]),
                    {"logits": lambda p, x: logreg_logits(p, x["x"]),
                     "predict": lambda p, x: torch.sigmoid(logreg_logits(p, x["x"]))}, scale=0.3),
    "logreg_l1": Model("logreg_l1.dml", {"n": 6}, logreg_inputs,
                       lambda p, x: bce(logreg_logits(p, x["x"]), x["y"]),
                       {"predict": lambda p, x: torch.sigmoid(logreg_logits(p, x["x"]))}, scale=0.3),
    "logreg_newton": Model("logreg_newton.dml", {"n": 6}, logreg_inputs,
                           lambda p, x: bce(logreg_logits(p, x["x"]), x["y"]) + 1e-3 * l2(p["w"]),
                           {"predict": lambda p, x: torch.sigmoid(logreg_logits(p, x["x"]))}, scale=0.3),
    "mlp_digits": Model("mlp_digits.dml", {"n": 6},
                        lambda rng, n: {"x": digits(rng, n), "y": labels(rng, n, 10)},
                        lambda p, x: F.cross_entropy(mlp_predict(p, x["x"]), x["y"].long())
                        + 1e-4 * l2(p["W1"], p["W2"]),
                        {"predict": lambda p, x: mlp_predict(p, x["x"])}, scale=0.3),
    "cnn_digits": Model("cnn_digits.dml", {"n": 3},
                        lambda rng, n: {"x": digits(rng, n).reshape(n, 1, 8, 8), "y": labels(rng, n, 10)},
                        lambda p, x: F.cross_entropy(cnn_predict(p, x["x"]), x["y"].long()),
                        {"features": lambda p, x: cnn_features(p, x["x"]),
                         "predict": lambda p, x: cnn_predict(p, x["x"])}, scale=0.3),
    "rnn_digits": Model("rnn_digits.dml", {"n": 4},
                        lambda rng, n: {"img": digits(rng, n).reshape(n, 8, 8), "y": labels(rng, n, 10)},
                        lambda p, x: F.cross_entropy(rnn_predict(p, x["img"]), x["y"].long()),
                        {"encode": lambda p, x: rnn_encode(p, x["img"]),
                         "predict": lambda p, x: rnn_predict(p, x["img"])}, scale=0.2),
    "rnn_sines": Model("rnn_sines.dml", {"n": 4},
                       lambda rng, n: {"xs": normal(rng, n, 20), "next": normal(rng, n, 20)},
                       lambda p, x: torch.mean((sines_predict(p, x["xs"]) - x["next"]) ** 2),
                       {"predict": lambda p, x: sines_predict(p, x["xs"])}, scale=0.3),
}


# ---- nn: tests/torch/models/*.dml -------------------------------------------

def dense_predict(p, x):
    h = torch.relu(x @ p["W1"] + p["b1"])
    g = torch.sigmoid(h @ p["W2"] + p["b2"])
    z = g @ p["W3"] + p["b3"]
    return torch.where(z > 0, z, p["a"] * z)


def conv_predict(p, x):
    h = torch.relu(F.conv2d(x, p["K"], padding=1) + p["b"].reshape(1, 3, 1, 1))
    return torch.flatten(F.max_pool2d(h, 2), 1) @ p["W"] + p["c"]


def rnn_cell_predict(p, xs):
    h = torch.zeros(xs.shape[0], 4, dtype=xs.dtype)
    ys = []
    for t in range(5):
        h = torch.tanh(xs[:, t] @ p["Wx"] + h @ p["Wh"] + p["bh"])
        ys.append(h @ p["V"])
    return torch.stack(ys, dim=1)


def gru_predict(p, xs):
    h = torch.zeros(xs.shape[0], 4, dtype=xs.dtype)
    for t in range(4):
        x = xs[:, t]
        z = torch.sigmoid(x @ p["wz"] + h @ p["uz"] + p["bz"])
        r = torch.sigmoid(x @ p["wr"] + h @ p["ur"] + p["br"])
        c = torch.tanh(x @ p["wc"] + r * (h @ p["uc"]) + p["bc"])
        h = (1 - z) * c + z * h
    return h @ p["Wo"] + p["bo"]


def lstm_predict(p, xs):
    h = torch.zeros(xs.shape[0], 4, dtype=xs.dtype)
    c = torch.zeros_like(h)
    for t in range(4):
        x = xs[:, t]
        i = torch.sigmoid(x @ p["wi"] + h @ p["ui"] + p["bi"])
        f = torch.sigmoid(x @ p["wf"] + h @ p["uf"] + p["bf"])
        g = torch.tanh(x @ p["wg"] + h @ p["ug"] + p["bg"])
        c = f * c + i * g
        h = torch.sigmoid(x @ p["wo"] + h @ p["uo"] + p["bo"]) * torch.tanh(c)
    return h @ p["V"]


def soft_labels(rng, n, k):
    e = rng.uniform(0.1, 1.0, size=(n, k))
    return e / e.sum(axis=1, keepdims=True)


NN = {
    "nn_losses": Model("nn_losses.dml", {"n": 7},
                       lambda rng, n: {"x": normal(rng, n, 4), "p": soft_labels(rng, n, 3),
                                       "y": rng.integers(0, 2, size=n).astype("float64"), "t": normal(rng, n)},
                       lambda p, x: -torch.sum(x["p"] * F.log_softmax(x["x"] @ p["W"] + p["b"], dim=1)) / x["x"].shape[0]
                       + bce(x["x"] @ p["w"] + p["c"], x["y"])
                       + torch.mean(torch.abs(torch.tanh(x["x"] @ p["U"] + p["d"]) @ p["v"] - x["t"]))),
    "nn_huber": Model("nn_huber.dml", {"n": 12},
                      lambda rng, n: {"x": normal(rng, n, 4), "t": 2 * normal(rng, n)},
                      lambda p, x: torch.mean(huber_terms(x["x"] @ p["w"] + p["c"], x["t"], p["delta"])),
                      fixed={"delta": 0.9}),
    "nn_dense": Model("nn_dense.dml", {"n": 8},
                      lambda rng, n: {"x": normal(rng, n, 4), "y": labels(rng, n, 3)},
                      lambda p, x: F.cross_entropy(dense_predict(p, x["x"]), x["y"].long())
                      + 1e-3 * l2(p["W1"], p["W3"]),
                      {"predict": lambda p, x: dense_predict(p, x["x"]),
                       "acc": lambda p, x: torch.mean((torch.argmax(dense_predict(p, x["x"]), dim=1)
                                                       == x["y"].long()).double())}),
    "nn_conv": Model("nn_conv.dml", {"n": 3},
                     lambda rng, n: {"x": normal(rng, n, 2, 5, 6), "y": labels(rng, n, 4)},
                     lambda p, x: F.cross_entropy(conv_predict(p, x["x"]), x["y"].long()),
                     {"predict": lambda p, x: conv_predict(p, x["x"])}),
    "nn_rnn": Model("nn_rnn.dml", {"n": 3},
                    lambda rng, n: {"xs": normal(rng, n, 5, 2), "next": normal(rng, n, 5)},
                    lambda p, x: torch.mean((rnn_cell_predict(p, x["xs"]) - x["next"]) ** 2),
                    {"predict": lambda p, x: rnn_cell_predict(p, x["xs"])}),
    "nn_gru": Model("nn_gru.dml", {"n": 3},
                    lambda rng, n: {"xs": normal(rng, n, 4, 3), "y": labels(rng, n, 3)},
                    lambda p, x: F.cross_entropy(gru_predict(p, x["xs"]), x["y"].long()),
                    {"predict": lambda p, x: gru_predict(p, x["xs"])}),
    "nn_lstm": Model("nn_lstm.dml", {"n": 3},
                     lambda rng, n: {"xs": normal(rng, n, 4, 3), "t": normal(rng, n)},
                     lambda p, x: torch.mean((lstm_predict(p, x["xs"]) - x["t"]) ** 2),
                     {"predict": lambda p, x: lstm_predict(p, x["xs"])}),
}


def b_smooth(p, x):
    z = x @ p["A"]
    e = torch.exp(0.3 * z) + torch.log(1 + z * z) + torch.log1p(torch.sigmoid(z)) \
        + torch.sqrt(2 + torch.sin(z)) * torch.cos(z)
    return (e + torch.maximum(z, 0.25 * z) - torch.minimum(p["u"], torch.tensor(0.1))
            + torch.clamp(z, -0.5, 0.5) + p["s"] ** 3 * torch.abs(z) + z / (2 + z * z))


def b_reduce(p, x):
    z = b_smooth(p, x)
    m = torch.mean(z, 0) + torch.amax(z, 0) - torch.amin(z, 0)
    lse = torch.logsumexp(z, 1, keepdim=True)
    return (torch.sum(m * p["u"]) + torch.mean(torch.softmax(z, 0) * z) + torch.mean(lse)
            + torch.sum(z.T @ z) / 100)


def b_pool(p, img):
    h = torch.tanh(F.conv2d(img, p["K"], stride=2, padding=1))
    return (torch.mean(F.avg_pool2d(h, 2, stride=1) * p["s"])
            + torch.mean(F.max_pool2d(h, 3, stride=2, padding=1)))


def b_loss(p, x):
    z = b_smooth(p, x["x"])
    y = x["y"].long()
    picked = torch.mean(F.log_softmax(z, 1).gather(1, y[:, None])) + torch.mean(F.one_hot(y, 4) * z)
    n = z.shape[0]
    return (b_reduce(p, x["x"]) + b_pool(p, x["img"]) - picked
            + 1e-2 * (torch.sum(torch.abs(p["A"])) + torch.sum(torch.abs(p["u"])))
            + 1e-2 * torch.mean((p["u"].expand(n, 4) - z) ** 2) + torch.sum(z.sum(0, keepdim=True)) / 10)


BUILTINS = {
    "builtins": Model("builtins.dml", {"n": 5},
                      lambda rng, n: {"x": normal(rng, n, 3), "img": normal(rng, n, 1, 7, 7),
                                      "y": labels(rng, n, 4)},
                      b_loss,
                      {"smooth": lambda p, x: b_smooth(p, x["x"]), "reduce": lambda p, x: b_reduce(p, x["x"]),
                       "pool": lambda p, x: b_pool(p, x["img"])},
                      fixed={"s": 1.1}),
}


def mm_loss(p, x):
    a = torch.tanh(x["x"] @ p["M"])
    b = torch.tanh(a @ p["B"])
    y = x["y"]
    c = p["v"] @ y
    d = y @ p["w"]
    return (torch.mean(b @ p["v"]) + torch.sum(c @ p["w"]) + p["v"] @ d[1] + p["v"] @ p["M"] @ p["w"]
            + torch.mean(torch.sin(p["B"] @ y)))


MATMUL = {
    "matmul": Model("matmul.dml", {"n": 2},
                    lambda rng, n: {"x": normal(rng, n, 2, 5, 3), "y": normal(rng, 2, 3, 4)}, mm_loss),
}


def huber_terms(pred, t, delta):
    r = torch.abs(pred - t)
    return torch.where(r <= delta, 0.5 * r ** 2, delta * (r - 0.5 * delta))


MODELS = dict(EXAMPLES, **NN, **BUILTINS, **MATMUL)
