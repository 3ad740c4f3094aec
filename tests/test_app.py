"""`python app.py` serves the page on 127.0.0.1 only."""
import urllib.request


def test_app_serves_the_page_on_localhost(app_url):
    assert app_url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(app_url, timeout=10) as response:
        assert response.status == 200
        assert "Dense vs Mixture-of-Experts" in response.read().decode()
