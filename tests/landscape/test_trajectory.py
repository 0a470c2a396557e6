import numpy as np
import pytest
import torch

from landscape.trajectory import pca_directions, project_trajectory
from tests.landscape.conftest import make_mlp


def _flat_weights(model, tensors):
    return torch.cat(
        [
            t.double().flatten()
            for (_, p), t in zip(model.named_parameters(), tensors)
            if p.dim() > 1
        ]
    )


def _synthetic_trajectory(model, n=12, seed=0):
    """theta_i = theta + a_i u + b_i v + noise over the matrices, u, v orthonormal."""
    g = torch.Generator().manual_seed(seed)
    shapes = [p.shape for p in model.parameters()]
    dims = [p.dim() > 1 for p in model.parameters()]
    size = sum(int(np.prod(s)) for s, k in zip(shapes, dims) if k)
    q, _ = torch.linalg.qr(torch.randn(size, 2, generator=g, dtype=torch.float64))
    u, v = q[:, 0], q[:, 1]
    a = torch.linspace(-3, 3, n, dtype=torch.float64) * 2.0
    b = torch.sin(torch.linspace(0, 3, n, dtype=torch.float64)) * 0.8
    states = []
    for i in range(n):
        vec = a[i] * u + b[i] * v + 1e-3 * torch.randn(size, generator=g, dtype=torch.float64)
        pos, state = 0, {}
        for (name, p), k in zip(model.named_parameters(), dims):
            if k:
                state[name] = p.detach() + vec[pos : pos + p.numel()].reshape(p.shape).float()
                pos += p.numel()
            else:
                state[name] = p.detach() + 0.5  # biases move too; ignored by default
        states.append(state)
    return states, u, v, a, b


def test_pca_recovers_the_dominant_axes():
    model = make_mlp()
    states, u, v, a, b = _synthetic_trajectory(model)
    dirs, ratio = pca_directions(model, states)
    x, y = _flat_weights(model, dirs.x), _flat_weights(model, dirs.y)
    assert abs(float(x @ u)) > 0.999 and abs(float(y @ v)) > 0.99
    assert torch.allclose(x.norm(), torch.tensor(1.0, dtype=torch.float64), atol=1e-5)
    assert ratio[0] > ratio[1] > ratio[2] and ratio[:2].sum() > 0.99
    # Biases are left out by default.
    assert all(
        torch.count_nonzero(t) == 0 for t, p in zip(dirs.x, model.parameters()) if p.dim() <= 1
    )
    coords = project_trajectory(model, states, dirs)
    sign = np.sign(float(x @ u))
    assert np.allclose(coords[:, 0] * sign, a.numpy(), atol=0.02)


def test_pca_errors(tmp_path):
    model = make_mlp()
    with pytest.raises(ValueError, match="at least 2 trajectory checkpoints"):
        pca_directions(model, [model.state_dict()])
    with pytest.raises(ValueError, match="spans fewer than 2 dimensions"):
        pca_directions(model, [model.state_dict(), model.state_dict()])
    other = make_mlp(width=8)
    with pytest.raises(ValueError, match=r"'0.weight' has shape \(8, 6\), the model has \(16, 6\)"):
        pca_directions(model, [other.state_dict(), other.state_dict()])
    with pytest.raises(FileNotFoundError, match="checkpoint 0 not found"):
        pca_directions(model, [tmp_path / "nope.pt", tmp_path / "nope2.pt"])


def test_pca_reads_checkpoint_files(tmp_path):
    model = make_mlp()
    states, u, *_ = _synthetic_trajectory(model, n=6)
    paths = []
    for i, s in enumerate(states):
        paths.append(tmp_path / f"c{i}.pt")
        torch.save({"model_state": s} if i % 2 else s, paths[-1])
    from_files, _ = pca_directions(model, paths)
    from_states, _ = pca_directions(model, states)
    assert all(torch.allclose(p, q) for p, q in zip(from_files.x, from_states.x))
