"""`python app.py` serves the page on 127.0.0.1 only."""
import urllib.request


def test_app_serves_the_page_on_localhost(app_url):
    assert app_url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(app_url, timeout=10) as response:
        assert response.status == 200
        assert "Dense vs Mixture-of-Experts" in response.read().decode()


def test_device_flags_read_as_accelerate_takes_them():
    import argparse

    import pytest

    from app import memory_cap, parse_args
    args = parse_args(["--model", "m", "--device", "auto", "--max-memory", "0=70GiB", "--max-memory", "cpu=16GiB",
                       "--offload-dir", "/tmp/off"])
    assert (args.device, dict(args.max_memory), args.offload_dir) == ("auto", {0: "70GiB", "cpu": "16GiB"}, "/tmp/off")
    assert parse_args([]).device == "cpu" and memory_cap("cpu=1000000") == ("cpu", 1000000)  # bytes: an int
    for bad in ("70GiB", "gpu=1GiB", "0="):
        with pytest.raises(argparse.ArgumentTypeError, match="expected DEVICE=SIZE"):
            memory_cap(bad)
