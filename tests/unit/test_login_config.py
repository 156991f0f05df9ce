"""The login settings: config.example.toml documents the defaults, and each key reaches the
password service (hash workers, queue, admission, cache bounds, argon2 parameters)."""
from pathlib import Path

from server import config as config_mod

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
KEYS = ("auth_cache_seconds", "auth_cache_max_seconds", "argon2_time_cost", "argon2_memory_kib",
        "argon2_parallelism", "password_hash_workers", "password_queue_max", "login_address_burst",
        "login_address_rate", "login_failure_budget", "login_failure_rate")


def test_the_example_file_states_the_defaults_of_the_login_settings():
    example, defaults = config_mod.load(str(EXAMPLE), env={}), config_mod.Config()
    assert {k: getattr(example, k) for k in KEYS} == {k: getattr(defaults, k) for k in KEYS}


def test_login_settings_reach_the_password_service(tmp_path):
    toml = tmp_path / "parley.toml"
    toml.write_text("[server]\npassword_hash_workers = 3\npassword_queue_max = 7\nlogin_address_burst = 4\n"
                    "login_failure_budget = 9\nauth_cache_max_seconds = 120\nargon2_memory_kib = 2048\n")
    config = config_mod.load(str(toml), env={"PARLEY_LOGIN_ADDRESS_RATE": "0.5", "PARLEY_ARGON2_TIME_COST": "1"},
                             data_dir=str(tmp_path))
    passwords = config.password_service()
    try:
        assert (passwords.workers.workers, passwords.workers.queue_max) == (3, 7)
        assert (passwords.guard.burst, passwords.guard.rate, passwords.guard.budget.capacity) == (4, 0.5, 9)
        assert passwords.cache_max_seconds == 120
        assert (passwords.hasher.time_cost, passwords.hasher.memory_cost, passwords.hasher.parallelism) == (1, 2048, 1)
    finally:
        passwords.close()


def test_zero_hash_workers_means_one_per_core():
    passwords = config_mod.Config(password_hash_workers=0).password_service()
    try:
        assert passwords.workers.workers >= 1
    finally:
        passwords.close()
