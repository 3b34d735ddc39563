"""The training command line: ``--help`` lists every key; bad input gets one line naming the key, exit 2."""
from __future__ import annotations

import subprocess
import sys

from paco_torchrl.algos.schema import documented_fields
from paco_torchrl.training.cli import help_text, main
from paco_torchrl.training.config import RunConfig
from paths import MT10_CONFIG, MT10_SCRIPT


def test_recipe_help_lists_every_key_with_default_and_doc():
    for flag in ("--help", "-h"):
        proc = subprocess.run([sys.executable, str(MT10_SCRIPT), flag], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        for section in ("[run]", "[env]", "[paco]", "[care]", "[fault]"):
            assert section in proc.stdout
        rows = {line.split("=")[0].strip(): line for line in proc.stdout.splitlines() if line.startswith("  ")}
        for key, _, doc, _ in documented_fields(RunConfig):
            assert key in rows, key
            assert doc and doc in rows[key], key
    assert "  paco.num_param_sets = 5 " in proc.stdout and "  optim.batch_size = 1280 " in proc.stdout


def test_recipe_type_error_names_the_key(tmp_path):
    for override, key in (("paco.num_param_sets=abc", "paco.num_param_sets"), ("optim.lr=fast", "optim.lr"),
                          ("paco.bogus=1", "paco.bogus"), ("sac.actor_loss_form=x", "sac.actor_loss_form")):
        proc = subprocess.run([sys.executable, str(MT10_SCRIPT), override, f"output_dir={tmp_path / 'run'}"],
                              capture_output=True, text=True, timeout=120)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"error: {key}: "), proc.stderr
    assert not (tmp_path / "run").exists()


def test_help_shows_the_config_files_values_and_the_choices_defined_once():
    text = help_text(MT10_CONFIG)
    assert "  paco.scope = all " in text and "  sac.actor_loss_form = dqda " in text
    assert "  collector.total_frames = 20000000 " in text
    mt50 = help_text(MT10_CONFIG.parent / "mt50_rand.yaml")
    assert "  env.benchmark = MT50 " in mt50  # the YAML's value, not the schema's default


def test_bad_value_in_process_is_one_line_naming_the_key(capsys, tmp_path):
    assert main(MT10_CONFIG, ["paco.num_param_sets=abc", f"output_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert err == "error: paco.num_param_sets: Value 'abc' of type 'str' could not be converted to Integer\n"
    assert main(MT10_CONFIG, ["paco.scope=everything"]) == 2
    assert capsys.readouterr().err.startswith("error: paco.scope: must be one of ('all', 'actor', 'output')")
    assert not (tmp_path / "run").exists()
