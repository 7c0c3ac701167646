"""docker-compose.yml stays consistent with the harness: one host port per server, the default
services on the default URLs' ports, and every versioned service documented with its target's variable."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import yaml

from harness.config import env_url_name
from harness.vendors import vendor_for_target
from tests.helpers import REPO

COMPOSE = REPO / "docker-compose.yml"


def services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def host_port(service: dict) -> int:
    [mapping] = service["ports"]
    return int(mapping.split(":")[1])


def test_every_server_has_its_own_host_port_on_loopback():
    ports = [host_port(service) for service in services().values()]
    assert len(ports) == len(set(ports)), ports
    assert all(service["ports"][0].startswith("127.0.0.1:") for service in services().values())


def test_the_default_services_listen_where_the_targets_default_urls_point():
    for name in ("postgresql", "mariadb", "mysql"):
        assert "profiles" not in services()[name]
        assert host_port(services()[name]) == urlsplit(vendor_for_target(name).default_url).port


def test_each_versioned_service_is_documented_with_its_targets_variable_and_image():
    header = COMPOSE.read_text().split("\nx-")[0]
    for name, service in services().items():
        if "profiles" not in service:
            continue
        vendor, version = name.rsplit("-", 1)
        target = f"{vendor}@{version}"
        assert service["image"].endswith(f":{version}"), (name, service["image"])
        schemes = "|".join(map(re.escape, vendor_for_target(target).url_schemes))
        pattern = rf"{env_url_name(target)}=(?:{schemes})://\S*:{host_port(service)}/"
        assert re.search(pattern, header), (name, pattern)
        assert target in header
