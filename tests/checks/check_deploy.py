#!/usr/bin/env python3
"""Checks the deployment files in deploy/ against the binaries, without Docker or Kubernetes.

Usage: check_deploy.py FERRY_PRODUCER FERRY_CONSUMER SOURCE_DIR

No Docker engine or cluster runs here, so this checks what can be checked from the files and the built
binaries, and says what failed one line each:
  deploy/Dockerfile     stages and COPY --from names; the build stage's COPY sources exist; the runtime stage
                        runs as a non-root user, has a HEALTHCHECK on a real route, and its CMD is a ferry
                        binary; the runtime packages provide every shared library the binaries need (readelf
                        NEEDED -> dpkg -S on this Debian 12 machine, the image's base) and the build packages
                        every pkg-config module CMakeLists.txt requires; ENV settings exist in both binaries.
  docker-compose.yml    and deploy/k8s/*.yaml: every ferry container runs ferry-producer or ferry-consumer
                        with flags its --help lists; every variable it gets (env, envFrom, anchors) is in
                        that binary's --config-table and its value fits the type there; ports and probes
                        point at the PORT the service listens on and at routes the service has; consumers
                        subscribe to topics and groups the registration script registers, and send to a
                        producer service that exists; references between objects (depends_on, selectors,
                        Secret/ConfigMap keys, named ports) resolve.
  hardening             (docs/deployment.md, "Hardened deployment files") compose: ports published on 127.0.0.1
                        only, Kafka's plaintext listener not published, images pinned (no :latest), no password
                        or key written in the file (each a required ${VAR:?}), the services connect as
                        ferry_service (made by deploy/postgres/init-roles.sh, not a superuser), API keys given;
                        Kubernetes: no Secret committed (create-secrets.sh makes them, and every key a pod reads
                        is one it makes), every container without privilege escalation, capabilities dropped,
                        seccomp RuntimeDefault and non-root, ferry's with a read-only root filesystem and /tmp
                        an emptyDir, images pinned, NetworkPolicies letting only ferry's pods reach PostgreSQL,
                        Kafka and the producer, API keys from Secrets, the postgres init script the same text as
                        compose's; and no stale advice to disable relays anywhere in deploy/.
Prints "deploy check: N passed, M failed" and exits 1 on any failure.
"""
import glob
import json
import os
import re
import shlex
import subprocess
import sys

import yaml

producer_bin, consumer_bin, src = sys.argv[1], sys.argv[2], sys.argv[3]
deploy = os.path.join(src, "deploy")
BINARIES = {"ferry-producer": producer_bin, "ferry-consumer": consumer_bin}
passed = 0
failures = []


def check(ok, what):
    global passed
    if ok:
        passed += 1
    else:
        failures.append(what)
    return ok


def config_table(binary):
    """{NAME: type} from `binary --config-table` (docs/configuration.md's table rows)."""
    out = subprocess.run([binary, "--config-table"], capture_output=True, text=True, check=True).stdout
    table = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`"):
            table[cells[0].strip("`")] = cells[1]
    return table


TABLES = {name: config_table(path) for name, path in BINARIES.items()}
HELP = {name: subprocess.run([path, "--help"], capture_output=True, text=True).stdout
        for name, path in BINARIES.items()}


def routes(files):
    found = set()
    for f in files:
        found |= set(re.findall(r'\{"GET", "(/[^"]*)"', open(f).read()))
    return found


ROUTES = {"ferry-producer": routes(glob.glob(os.path.join(src, "src/producer/api/api_*.c"))),
          "ferry-consumer": routes(glob.glob(os.path.join(src, "src/consumer/api_*.c")))}


def value_fits(typ, value):
    """Whether `value` is acceptable for a setting of type `typ` as --config-table prints it."""
    value = str(value)
    m = re.match(r"integer \((-?\d+)\.\.(-?\d+)\)", typ)
    if m:
        return re.fullmatch(r"-?\d+", value) is not None and int(m[1]) <= int(value) <= int(m[2])
    if typ == "boolean":
        return value.lower() in ("true", "false", "1", "0", "yes", "no", "on", "off")
    m = re.match(r"one of (.*)", typ)
    if m:
        return value.lower() in [v.strip() for v in m[1].split(",")]
    return True  # string


def check_settings(where, binary, env):
    """env: {NAME: value or None (set from a source we cannot read, e.g. the downward API)}."""
    table = TABLES[binary]
    for name, value in env.items():
        if check(name in table, f"{where}: {name} is not a setting of {binary} (see {binary} --config-table)"):
            if value is not None:
                check(value_fits(table[name], value),
                      f"{where}: {name}={value!r} does not fit its type '{table[name]}'")


def check_command(where, command):
    """A ferry container's command: the binary, then flags its --help lists. Returns the binary or None."""
    if isinstance(command, str):
        command = shlex.split(command)
    if not check(bool(command) and command[0] in BINARIES,
                 f"{where}: command {command!r} does not run ferry-producer or ferry-consumer"):
        return None
    for arg in command[1:]:
        if arg.startswith("--"):
            check(arg.split("=")[0] in HELP[command[0]], f"{where}: {command[0]} has no flag {arg}")
    return command[0]


def check_route(where, binary, path):
    check(path in ROUTES[binary], f"{where}: {binary} has no route GET {path}")


def registration_script(where, script):
    """The topic registration script: JSON bodies POSTed to /api/topics/register. Returns {topic: {groups}}."""
    check("/api/topics/register" in script, f"{where}: the script does not call /api/topics/register")
    registered = {}
    for body in re.findall(r"'(\{.*?\})'", script):
        try:
            doc = json.loads(body)
        except ValueError as e:
            check(False, f"{where}: registration body is not JSON ({e}): {body}")
            continue
        check(set(doc) <= {"topicName", "description", "partitions", "consumerGroups"},
              f"{where}: unknown field in registration body {body}")
        registered[doc["topicName"]] = {g["consumerGroupName"] for g in doc.get("consumerGroups", [])}
    check(bool(registered), f"{where}: no registration body found")
    return registered


def check_subscriptions(where, env, registered, producer_ports):
    group, topics = env.get("KAFKA_CONSUMER_GROUP"), env.get("KAFKA_TOPICS")
    if group and topics:
        for t in topics.split(","):
            check(group in registered.get(t, set()),
                  f"{where}: consumes {t} as {group}, but the registration gives {t} the groups "
                  f"{sorted(registered.get(t, set()))}")
    url = env.get("ProducerService__BaseUrl")
    if url:
        m = re.match(r"http://([^:/]+):(\d+)", url)
        check(m is not None and (m[1], m[2]) in producer_ports,
              f"{where}: ProducerService__BaseUrl {url} is not a producer service of this deployment "
              f"({sorted(producer_ports)})")


# --- Dockerfile ------------------------------------------------------------------------------------------------
def check_dockerfile():
    path = os.path.join(deploy, "Dockerfile")
    text = re.sub(r"\\\n", " ", open(path).read())
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    stages, current = [], None
    for line in lines:
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            current = {"base": m[1], "name": m[2], "lines": []}
            stages.append(current)
        elif current is not None:
            current["lines"].append((word, rest))
    check(len(stages) >= 2, "Dockerfile: not multi-stage")
    names = set()
    for st in stages:
        for word, rest in st["lines"]:
            if word == "COPY":
                m = re.match(r"--from=(\S+)\s", rest)
                if m:
                    check(m[1] in names, f"Dockerfile: COPY --from={m[1]} names no earlier stage")
                elif st is stages[0]:
                    for source in rest.split()[:-1]:
                        check(os.path.exists(os.path.join(src, source)),
                              f"Dockerfile: COPY source {source} does not exist in the repository")
        names.add(st["name"])
    build, runtime = stages[0], stages[-1]
    words = {w: r for w, r in runtime["lines"]}
    user = words.get("USER", "root").split(":")[0]
    check(user not in ("root", "0"), "Dockerfile: the runtime stage runs as root")
    check("HEALTHCHECK" in words, "Dockerfile: no HEALTHCHECK")
    m = re.search(r"http://127\.0\.0\.1:\$\{?PORT\}?(/\S*?)\"", words.get("HEALTHCHECK", ""))
    if check(m is not None, "Dockerfile: HEALTHCHECK does not GET http://127.0.0.1:${PORT}/..."):
        for binary in BINARIES:
            check_route("Dockerfile HEALTHCHECK", binary, m[1])
    cmd = json.loads(words.get("CMD", "[]"))
    check_command("Dockerfile CMD", cmd)
    env = dict(re.findall(r"(\w+)=(\S+)", words.get("ENV", "")))
    for binary in BINARIES:
        check_settings("Dockerfile ENV", binary,
                       {k: v for k, v in env.items() if k not in ("PATH", "LD_LIBRARY_PATH")})

    def apt_packages(stage):
        pk = set()
        for word, rest in stage["lines"]:
            if word == "RUN" and "apt-get install" in rest:
                tail = rest.split("apt-get install", 1)[1].split("&&")[0]
                pk |= {p for p in tail.split() if not p.startswith("-")}
        return pk

    runtime_pkgs, build_pkgs = apt_packages(runtime), apt_packages(build)
    # Every library the binaries link directly comes from a package of the runtime stage.
    for binary, path in BINARIES.items():
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                            subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout)
        for lib in needed:
            if lib.startswith(("libc.so", "libm.so", "libpthread", "libdl", "ld-linux", "libasan", "libubsan")):
                continue  # libc6 / the toolchain, in every Debian image
            out = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True).stdout
            pkgs = {l.split(":")[0] for l in out.splitlines() if l}
            check(bool(pkgs & runtime_pkgs),
                  f"Dockerfile: {binary} needs {lib} (package {', '.join(sorted(pkgs)) or '?'}), "
                  f"not installed in the runtime stage")
    # Every pkg-config module CMakeLists.txt requires is installed in the build stage.
    modules = re.findall(r"pkg_check_modules\(\w+ REQUIRED IMPORTED_TARGET (\S+)\)",
                         open(os.path.join(src, "CMakeLists.txt")).read())
    for mod in modules:
        if mod == "cmocka":
            continue  # tests only; the image builds with FERRY_BUILD_TESTS=OFF
        pc = subprocess.run(["pkg-config", "--variable=pcfiledir", mod], capture_output=True, text=True).stdout
        out = subprocess.run(["dpkg", "-S", os.path.join(pc.strip(), mod + ".pc")],
                             capture_output=True, text=True).stdout
        pkgs = {l.split(":")[0] for l in out.splitlines() if l}
        check(bool(pkgs & build_pkgs), f"Dockerfile: pkg-config module {mod} ({', '.join(sorted(pkgs))}) "
                                       f"not installed in the build stage")
    check("-DFERRY_BUILD_TESTS=OFF" in text, "Dockerfile: builds the tests (needs cmocka)")


# --- docker-compose.yml ----------------------------------------------------------------------------------------
def check_compose():
    path = os.path.join(deploy, "docker-compose.yml")
    doc = yaml.safe_load(open(path))
    services = doc.get("services", {})
    check(bool(services), "docker-compose.yml: no services")
    ferry, registered, producer_ports = {}, {}, set()
    for name, svc in services.items():
        for dep in (svc.get("depends_on") or {}):
            check(dep in services, f"compose {name}: depends_on unknown service {dep}")
        build = svc.get("build")
        if build:
            ctx = os.path.normpath(os.path.join(deploy, build.get("context", ".")))
            check(os.path.exists(os.path.join(ctx, build.get("dockerfile", "Dockerfile"))),
                  f"compose {name}: build dockerfile not found")
        if not str(svc.get("image", "")).startswith("ferry"):
            continue
        command = svc.get("command") or ["ferry-producer"]  # the image's CMD
        if command[0] == "sh":
            registered.update(registration_script(f"compose {name}", command[-1]))
            continue
        binary = check_command(f"compose {name}", command)
        if binary:
            env = {k: (None if v is None else str(v)) for k, v in (svc.get("environment") or {}).items()}
            ferry[name] = (binary, env, svc)
            if binary == "ferry-producer":
                producer_ports.add((name, env.get("PORT", "5301")))
    kinds = {b for b, _, _ in ferry.values()}
    check(kinds == set(BINARIES), f"compose: want producer and consumer services, found {sorted(kinds)}")
    check({"postgres", "kafka", "kafka-ui"} <= set(services), "compose: postgres, kafka or kafka-ui missing")
    kafka_env = services.get("kafka", {}).get("environment", {})
    check("controller" in str(kafka_env.get("KAFKA_PROCESS_ROLES", "")),
          "compose kafka: not in KRaft mode (KAFKA_PROCESS_ROLES with controller)")
    for name, (binary, env, svc) in ferry.items():
        where = f"compose {name}"
        check_settings(where, binary, env)
        port = env.get("PORT", "5301" if binary == "ferry-producer" else "5401")
        check(env.get("FERRY_HTTP_HOST") == "0.0.0.0", f"{where}: FERRY_HTTP_HOST must be 0.0.0.0 in a container")
        for mapping in svc.get("ports", []):
            check(str(mapping).split(":")[-1] == port, f"{where}: port mapping {mapping} is not to PORT {port}")
        test = " ".join(svc.get("healthcheck", {}).get("test", []))
        m = re.search(r"http://127\.0\.0\.1:(\d+)(/\S*)", test)
        if check(m is not None, f"{where}: no HTTP healthcheck"):
            check(m[1] == port, f"{where}: healthcheck port {m[1]} is not PORT {port}")
            check_route(where, binary, m[2])
        if binary == "ferry-consumer":
            check_subscriptions(where, env, registered, producer_ports)
    check_compose_hardening(services, ferry)


SECRET_NAME = re.compile(r"PASSWORD|API_?KEY|APIKEY|SECRET|TOKEN", re.I)


def image_pinned(image):
    """A tag that names a version: not absent, not latest."""
    image = str(image)
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    return tag not in ("", "latest")


def init_script():
    path = os.path.join(deploy, "postgres", "init-roles.sh")
    return open(path).read() if os.path.exists(path) else ""


def check_init_script(where, text):
    """The roles: ferry_service logs in and is no superuser; ferry_owner likewise and owns the database."""
    for role in ("ferry_owner", "ferry_service"):
        m = re.search(rf"CREATE ROLE {role}\b([^;]*);", text)
        if check(m is not None, f"{where}: does not create the role {role}"):
            check("NOSUPERUSER" in m[1] and "SUPERUSER" not in m[1].replace("NOSUPERUSER", ""),
                  f"{where}: role {role} is not NOSUPERUSER")
            check("PASSWORD :'" in m[1], f"{where}: role {role}'s password is not taken from the environment")
    check(re.search(r"CREATE DATABASE outbox_db OWNER ferry_owner", text) is not None,
          f"{where}: outbox_db is not owned by ferry_owner")


def conn_user(value):
    m = re.search(r"(?:Username|User Id|User|user)\s*=\s*([^;\s]+)", str(value or ""))
    return m[1] if m else None


def check_compose_hardening(services, ferry):
    for name, svc in services.items():
        where = f"compose {name}"
        if "image" in svc:
            check(image_pinned(svc["image"]), f"{where}: image {svc['image']} is not pinned to a version")
        for mapping in svc.get("ports", []):
            check(str(mapping).startswith("127.0.0.1:"),
                  f"{where}: port {mapping} is published on every interface (write 127.0.0.1:...)")
        env = svc.get("environment") or {}
        for key, value in env.items():
            value = "" if value is None else str(value)
            written = re.search(r"Password=(?!\$\{\w+:\?)", value) is not None or (
                SECRET_NAME.search(key) is not None and re.fullmatch(r"\$\{\w+:\?[^}]*\}", value) is None)
            check(not written,
                  f"{where}: {key} is written in the file; take it from a required variable (${{NAME:?}})")
    kafka = services.get("kafka", {})
    check(not kafka.get("ports"), "compose kafka: the broker's ports are published on the host")
    adv = str((kafka.get("environment") or {}).get("KAFKA_ADVERTISED_LISTENERS", ""))
    check("localhost" not in adv and "127.0.0.1" not in adv,
          f"compose kafka: advertises a listener for the host ({adv})")
    pg = services.get("postgres", {})
    pg_env = pg.get("environment") or {}
    superuser = str(pg_env.get("POSTGRES_USER", "postgres"))
    check("POSTGRES_DB" not in pg_env or pg_env.get("POSTGRES_DB") != "outbox_db",
          "compose postgres: outbox_db made by the image (owned by the superuser), not by init-roles.sh")
    check(any("init-roles.sh:/docker-entrypoint-initdb.d/" in str(v) for v in pg.get("volumes", [])),
          "compose postgres: deploy/postgres/init-roles.sh is not mounted into /docker-entrypoint-initdb.d")
    check_init_script("deploy/postgres/init-roles.sh", init_script())
    for name, (binary, env, svc) in ferry.items():
        where = f"compose {name}"
        for key in ("ConnectionStrings__DefaultConnection", "ConnectionStrings__ConsumerConnection"):
            if key in env:
                user = conn_user(env[key])
                check(user == "ferry_service",
                      f"{where}: {key} connects as {user}, not ferry_service (superuser: {superuser})")
        if "ConnectionStrings__MigrationConnection" in env:
            check(conn_user(env["ConnectionStrings__MigrationConnection"]) == "ferry_owner",
                  f"{where}: ConnectionStrings__MigrationConnection does not connect as ferry_owner")
        want = "FERRY_BOOTSTRAP_API_KEY" if binary == "ferry-producer" else "ProducerService__ApiKey"
        check(want in env, f"{where}: no {want}")


def check_no_stale_relay_advice():
    for f in glob.glob(os.path.join(deploy, "**", "*"), recursive=True):
        if os.path.isfile(f) and f.endswith((".yml", ".yaml", "Dockerfile", ".sh")):
            check("FERRY_RELAY_ENABLED=false" not in open(f).read(),
                  f"{os.path.relpath(f, src)}: still tells users to disable relays (shards keep order)")


def created_secrets():
    """{(Secret, name): {key: None}} from deploy/k8s/create-secrets.sh's `kubectl create secret` commands."""
    path = os.path.join(deploy, "k8s", "create-secrets.sh")
    found = {}
    if not os.path.exists(path):
        return found
    text = re.sub(r"\\\n", " ", open(path).read())
    for m in re.finditer(r"kubectl create secret generic (\S+)([^\n]*)", text):
        found[("Secret", m[1])] = {k: None for k in re.findall(r"--from-literal=(\w+)=", m[2])}
    return found


# --- Kubernetes ------------------------------------------------------------------------------------------------
def check_k8s():
    docs = []
    for f in sorted(glob.glob(os.path.join(deploy, "k8s", "*.yaml"))):
        for d in yaml.safe_load_all(open(f)):
            if d:
                docs.append((os.path.basename(f), d))
    check(len(docs) > 0, "k8s: no manifests")
    data = created_secrets()
    check(("Secret", "ferry-db") in data and ("Secret", "ferry-api-keys") in data,
          "k8s create-secrets.sh: does not create the Secrets ferry-db and ferry-api-keys")
    for f, d in docs:
        check(all(k in d for k in ("apiVersion", "kind", "metadata")) and "name" in d["metadata"],
              f"k8s {f}: a document lacks apiVersion, kind or metadata.name")
        if d["kind"] == "Secret":
            check(False, f"k8s {f}: Secret/{d['metadata']['name']} is committed (create-secrets.sh makes Secrets)")
        if d["kind"] in ("ConfigMap", "Secret"):
            data[(d["kind"], d["metadata"]["name"])] = {**d.get("data", {}), **d.get("stringData", {})}
    pods, registered, producer_ports, ferry = [], {}, set(), []
    for f, d in docs:
        if d["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        where = f"k8s {f} {d['kind']}/{d['metadata']['name']}"
        tmpl = d["spec"]["template"]
        labels = tmpl["metadata"].get("labels", {})
        if d["kind"] != "Job":
            sel = d["spec"]["selector"]["matchLabels"]
            check(all(labels.get(k) == v for k, v in sel.items()), f"{where}: selector does not match its pods")
        pods.append((where, labels, tmpl["spec"]["containers"]))
        for c in tmpl["spec"]["containers"]:
            env = {}
            for src_ in c.get("envFrom", []):
                ref = src_.get("configMapRef") or src_.get("secretRef")
                kind = "ConfigMap" if "configMapRef" in src_ else "Secret"
                if check((kind, ref["name"]) in data, f"{where}: envFrom unknown {kind} {ref['name']}"):
                    env.update({k: str(v) for k, v in data[(kind, ref["name"])].items()})
            for e in c.get("env", []):
                if "value" in e:
                    env[e["name"]] = str(e["value"])
                else:
                    vf = e.get("valueFrom", {})
                    ref = vf.get("secretKeyRef") or vf.get("configMapKeyRef")
                    if ref:
                        kind = "Secret" if "secretKeyRef" in vf else "ConfigMap"
                        ok = check(ref["key"] in data.get((kind, ref["name"]), {}),
                                   f"{where}: {e['name']} refers to missing {kind} {ref['name']} key {ref['key']}")
                        value = data[(kind, ref["name"])][ref["key"]] if ok else None
                        env[e["name"]] = None if value is None else str(value)
                    else:
                        env[e["name"]] = None  # downward API
            check_container_hardening(where, tmpl["spec"], c)
            if not str(c.get("image", "")).startswith("ferry"):
                continue
            check_ferry_container_hardening(where, tmpl["spec"], c)
            command = c.get("command") or ["ferry-producer"]
            if command[0] == "sh":
                registered.update(registration_script(where, command[-1]))
                continue
            binary = check_command(where, command)
            if binary:
                ferry.append((where, binary, env, c))
    for where, binary, env, c in ferry:
        check_settings(where, binary, env)
        port = env.get("PORT", "5301" if binary == "ferry-producer" else "5401")
        named = {p.get("name"): str(p["containerPort"]) for p in c.get("ports", [])}
        check(port in named.values(), f"{where}: no containerPort {port} (its PORT)")
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            http = c.get(probe, {}).get("httpGet")
            if check(http is not None, f"{where}: no HTTP {probe}"):
                p = str(http["port"])
                check(named.get(p, p) == port, f"{where}: {probe} port {p} is not PORT {port}")
                check_route(f"{where} {probe}", binary, http["path"])
        if binary == "ferry-producer":
            for f, d in docs:
                if d["kind"] == "Service":
                    for sp in d["spec"].get("ports", []):
                        if named.get(str(sp.get("targetPort")), str(sp.get("targetPort"))) == port:
                            producer_ports.add((d["metadata"]["name"], str(sp["port"])))
    for where, binary, env, c in ferry:
        if binary == "ferry-consumer":
            check_subscriptions(where, env, registered, producer_ports)
        want = "FERRY_BOOTSTRAP_API_KEY" if binary == "ferry-producer" else "ProducerService__ApiKey"
        refs = [e for e in c.get("env", []) if e["name"] == want]
        check(bool(refs) and "secretKeyRef" in refs[0].get("valueFrom", {}),
              f"{where}: {want} does not come from a Secret")
    check_network_policies(docs, pods)
    for f, d in docs:
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "ferry-postgres-init":
            check(d.get("data", {}).get("init-roles.sh") == init_script(),
                  f"k8s {f}: ConfigMap ferry-postgres-init's init-roles.sh differs from deploy/postgres/init-roles.sh")
    for f, d in docs:
        if d["kind"] != "Service":
            continue
        sel = d["spec"].get("selector", {})
        match = [p for p in pods if all(p[1].get(k) == v for k, v in sel.items())]
        if check(bool(match), f"k8s {f} Service/{d['metadata']['name']}: selects no pods"):
            for sp in d["spec"].get("ports", []):
                tp = sp.get("targetPort", sp["port"])
                if isinstance(tp, str):
                    check(any(tp == p.get("name") for _, _, cs in match for c in cs for p in c.get("ports", [])),
                          f"k8s {f} Service/{d['metadata']['name']}: targetPort {tp} names no container port")


def check_container_hardening(where, pod, c):
    """Every container: no privilege escalation, capabilities dropped, seccomp RuntimeDefault, not root."""
    where = f"{where} container {c['name']}"
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    check(image_pinned(c.get("image", "")), f"{where}: image {c.get('image')} is not pinned to a version")
    check(csc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation is not false")
    check("ALL" in csc.get("capabilities", {}).get("drop", []), f"{where}: capabilities not dropped (drop: [ALL])")
    seccomp = csc.get("seccompProfile", psc.get("seccompProfile", {}))
    check(seccomp.get("type") == "RuntimeDefault", f"{where}: seccompProfile is not RuntimeDefault")
    check(csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, f"{where}: runAsNonRoot is not true")
    check(csc.get("runAsUser", psc.get("runAsUser", 0)) != 0, f"{where}: runs as uid 0")


def check_ferry_container_hardening(where, pod, c):
    """ferry's containers also: a read-only root filesystem, /tmp an emptyDir."""
    where = f"{where} container {c['name']}"
    check(c.get("securityContext", {}).get("readOnlyRootFilesystem") is True,
          f"{where}: readOnlyRootFilesystem is not true")
    empty = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
    check(any(m.get("mountPath") == "/tmp" and m["name"] in empty for m in c.get("volumeMounts", [])),
          f"{where}: /tmp is not an emptyDir (the root filesystem is read-only)")


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).get("matchLabels", {}).items())


def check_network_policies(docs, pods):
    """PostgreSQL and Kafka reachable from ferry's pods only; the producer from the consumers."""
    policies = [(f, d) for f, d in docs if d["kind"] == "NetworkPolicy"]
    pod_labels = {l.get("app.kubernetes.io/name"): l for _, l, _ in pods}
    allowed = {"postgres": {"ferry-producer", "ferry-consumer"},
               "kafka": {"ferry-producer", "ferry-consumer", "kafka"}}
    for target in ("postgres", "kafka", "ferry-producer"):
        labels = pod_labels.get(target, {})
        mine = [(f, d) for f, d in policies if labels and selects(d["spec"].get("podSelector"), labels)]
        if not check(bool(mine), f"k8s: no NetworkPolicy selects the {target} pods"):
            continue
        for f, d in mine:
            where = f"k8s {f} NetworkPolicy/{d['metadata']['name']}"
            check("Ingress" in d["spec"].get("policyTypes", []), f"{where}: policyTypes lacks Ingress")
            rules = d["spec"].get("ingress", [])
            check(all(r.get("from") for r in rules), f"{where}: an ingress rule admits everyone (no from)")
            peers = [p for r in rules for p in r.get("from", [])]
            if target in allowed:
                for p in peers:
                    ok = set(p) == {"podSelector"} and any(
                        selects(p["podSelector"], pod_labels.get(n, {})) for n in allowed[target]) and \
                        not any(selects(p["podSelector"], l) for n, l in pod_labels.items()
                                if n not in allowed[target])
                    check(ok, f"{where}: admits {p}, not only {sorted(allowed[target])}")
            else:
                check(any("podSelector" in p and selects(p["podSelector"], pod_labels.get("ferry-consumer", {}))
                          for p in peers), f"{where}: the consumers cannot reach the producer")


def check_grafana():
    """The sample Grafana dashboard parses, and every ferry_* metric its queries use is one the
    services export (declared in src/producer/producer_metrics.c or src/consumer/consumer_metrics.c;
    histograms by their _bucket/_sum/_count series)."""
    path = os.path.join(src, "deploy", "grafana", "ferry-dashboard.json")
    with open(path) as fh:
        dash = json.load(fh)
    declared = set()
    for f in ("src/producer/producer_metrics.c", "src/consumer/consumer_metrics.c",
              "src/common/metrics_http.c"):
        with open(os.path.join(src, f)) as fh:
            text = fh.read()
        for name in re.findall(r'"(ferry_[a-z_]+)"', text):
            declared.update({name, name + "_bucket", name + "_sum", name + "_count"})
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    check(len(exprs) > 0, "grafana: no queries")
    for e in exprs:
        for name in re.findall(r"\bferry_[a-z_]+", e):
            check(name in declared, f"grafana: query uses {name}, which no service exports")


check_dockerfile()
check_compose()
check_no_stale_relay_advice()
check_k8s()
check_grafana()
for f in failures:
    print("FAIL: " + f, file=sys.stderr)
print(f"deploy check: {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
