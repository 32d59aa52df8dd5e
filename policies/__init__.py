"""The Polar policy files and their truth table (``monespace policy test``)."""

from pathlib import Path

POLICY_DIR = Path(__file__).resolve().parent
