"""The classic builder: a Dockerfile's instructions applied one by one, each step an image.

Every instruction after FROM makes a new image whose Parent is the one before: metadata
instructions (ENV, CMD, ...) change only the config (an empty_layer history entry); RUN is a
container the engine makes from the image so far, its upper dir committed as a layer; COPY, ADD
and WORKDIR change files in an overlay (filesystem.py). A step is taken from the cache when an
image with the same parent was made by the same instruction (its text, with variables
substituted and, for COPY/ADD, the checksum of the files it copies)."""
import json
import os
import posixpath
import time

from pocketbox import explain, reference
from pocketbox.build import dockerfile as df
from pocketbox.build.context import BuildContext
from pocketbox.build.words import SubstitutionError, expand, expand_words
from pocketbox.errors import NotFound, PocketboxError

DEFAULT_SHELL = ["/bin/sh", "-c"]
PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY",
              "no_proxy", "ALL_PROXY", "all_proxy")


# what a build stages in the store's tmp/ (a build killed with -9 leaves them; the next one removes them)
STAGING = ("build-context", "build-upload", "build-step", "layer-tree", "add-url", "newlayer")


class BuildError(PocketboxError):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message, code)


class BuildOptions:
    def __init__(self, tags=(), dockerfile="Dockerfile", build_args=None, target=None, no_cache=False, pull=False,
                 labels=None, network="bridge", quiet=False, platform=None):
        self.tags, self.dockerfile, self.build_args = list(tags), dockerfile or "Dockerfile", dict(build_args or {})
        self.target, self.no_cache, self.pull, self.labels = target, no_cache, pull, dict(labels or {})
        self.network, self.quiet, self.platform = network, quiet, platform


class _Stage:
    def __init__(self, name: str | None, index: int):
        self.name, self.index = name, index
        self.image: dict | None = None       # the image record so far (None: scratch, nothing yet)
        self.config: dict = {}               # its image config blob (architecture, config, rootfs, history)
        self.layers: list[dict] = []         # its manifest's layer descriptors
        self.args: dict = {}                 # ARGs declared in this stage -> value (None: no value)
        self.cmd_set = False

    @property
    def run_config(self) -> dict:
        return self.config.setdefault("config", {})

    @property
    def image_id(self) -> str:
        return self.image["Id"] if self.image else ""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())


def _go_list(items: list[str]) -> str:
    """Go's %q of a []string: ["a" "b"] (how Docker's history writes CMD and friends)."""
    return "[" + " ".join(json.dumps(i) for i in items) + "]"


def _go_duration(ns: int) -> str:
    """Go's time.Duration.String(): 0s, 500ms, 5s, 1m30s, 1h0m0s."""
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return f"{ns / size:.9f}".rstrip("0").rstrip(".") + unit
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = f"{rest / 10**9:.9f}".rstrip("0").rstrip(".") + "s"
    return (f"{hours}h{minutes}m" if hours else f"{minutes}m" if minutes else "") + seconds


def _go_rune(n: int) -> str:
    """Go's %q of an int (a rune literal): '\x00', '\x03', 'A'."""
    return f"'{chr(n)}'" if 32 < n < 127 and chr(n) not in "'\\" else f"'\\x{n:02x}'"


class Builder:
    def __init__(self, engine, context: BuildContext, options: BuildOptions, output_fd: int):
        self.engine, self.store, self.context, self.options = engine, engine.store, context, options
        self.output_fd = output_fd
        self.stages: list[_Stage] = []
        self.used_args: set[str] = set()
        self.meta_args: dict = {}
        self.escape = "\\"

    # --- output ---------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        data = (text + "\n").encode()
        while data:
            data = data[os.write(self.output_fd, data):]

    # --- the whole build ----------------------------------------------------------------------
    def build(self, text: str) -> str:
        parsed = df.parse(text)
        self.escape = parsed.escape
        instructions = parsed.instructions
        if not instructions:
            raise BuildError("the Dockerfile cannot be empty")
        if self.options.platform:
            self._check_platform(self.options.platform)
        head = 0
        while head < len(instructions) and instructions[head].keyword == "ARG":
            name, value = instructions[head].pairs[0]
            value = self._expand(value, self.meta_args) if value is not None else None
            self.meta_args[name] = self.options.build_args.get(name, value)
            if name in self.options.build_args:
                self.used_args.add(name)
            head += 1
        if head == len(instructions) or instructions[head].keyword != "FROM":
            raise BuildError("no build stage in current context" if head == len(instructions) else
                             f"Dockerfile parse error line {instructions[head].line}: "
                             f"{instructions[head].keyword} must come after FROM")
        body = self._select_stages(instructions[head:])
        if self.options.labels:
            label = "LABEL " + " ".join(f'"{k}"="{v}"' for k, v in self.options.labels.items())
            body.append(df.parse_instruction(label, 0, self.escape))
        total = len(instructions[:head]) + len(body)
        for i, inst in enumerate(instructions[:head]):
            self.say(f"Step {i + 1}/{total} : {inst.text()}")
        step = head
        for inst in body:
            step += 1
            self.say(f"Step {step}/{total} : {inst.text()}")
            self._dispatch(inst)
        stage = self.stages[-1]
        if stage.image is None:
            raise BuildError("No image was generated. Is your Dockerfile empty?")
        unused = sorted(set(self.options.build_args) - self.used_args - set(PROXY_ARGS))
        if unused:
            self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed")
        image_id = stage.image_id
        self.say(f"Successfully built {image_id[7:19]}")
        from pocketbox.engine.images import register_image

        for tag in self.options.tags:
            ref = reference.parse(tag)
            register_image(self.store, self.store.image(image_id), ref, None)
            self.say(f"Successfully tagged {ref.familiar()}")
        return image_id

    def _select_stages(self, instructions: list) -> list:
        """The instructions up to the end of the --target stage."""
        if not self.options.target:
            return list(instructions)
        names = []
        for i, inst in enumerate(instructions):
            if inst.keyword == "FROM":
                words = inst.rest.split()
                if len(words) == 3 and words[1].upper() == "AS":
                    names.append((words[2].lower(), i))
        for name, start in names:
            if name == self.options.target.lower():
                ends = [i for i, inst in enumerate(instructions) if inst.keyword == "FROM" and i > start]
                return list(instructions[:ends[0]] if ends else instructions)
        raise BuildError(f"failed to reach build target {self.options.target} in Dockerfile")

    # --- variables ------------------------------------------------------------------------------
    def _variables(self, stage: _Stage) -> dict:
        """What $VAR sees: the stage's ARGs with a value, then its ENV (ENV wins)."""
        env = {k: v for k, v in stage.args.items() if v is not None}
        for item in stage.run_config.get("Env") or []:
            k, _, v = item.partition("=")
            env[k] = v
        return env

    def _expand(self, word: str, env: dict) -> str:
        try:
            return expand(word, env, self.escape)
        except SubstitutionError as e:
            raise BuildError(str(e)) from None

    def _check_platform(self, text: str) -> None:
        from pocketbox.registry.manifest import host_platform, parse_platform

        try:
            want, host = parse_platform(text), host_platform()
        except Exception:  # noqa: BLE001 (its own message)
            raise BuildError(f"invalid platform: {text}") from None
        if (want.os, want.architecture) != (host.os, host.architecture):
            raise BuildError(f"pocketbox builds for {host.os}/{host.architecture} only, not {text}")

    # --- steps ----------------------------------------------------------------------------------
    def _dispatch(self, inst) -> None:
        if inst.keyword == "FROM":
            self._from(inst)
            return
        stage = self.stages[-1]
        handler = getattr(self, "_" + inst.keyword.lower())
        handler(stage, inst)

    def _cached(self, stage: _Stage, key: list[str]) -> dict | None:
        if self.options.no_cache:
            return None
        for record in self.store.all_images():
            if record.get("Parent", "") == stage.image_id and (record.get("ContainerConfig") or {}).get("Cmd") == key:
                return record
        return None

    def _use(self, stage: _Stage, image_id: str, cached: bool = False) -> None:
        stage.image = self.store.image(image_id)
        stage.config = json.loads(self.store.read_blob(image_id))
        stage.layers = json.loads(self.store.read_blob(stage.image["ManifestDigest"]))["layers"]
        if cached:
            self.say(" ---> Using cache")
            explain.emit("build", f"cache hit: image {image_id} has this parent and was made by this instruction",
                         "match Parent and ContainerConfig.Cmd of the images in the store")
        self.say(f" ---> {image_id[7:19]}")

    def _commit(self, stage: _Stage, key: list[str], created_by: str, layer=None) -> None:
        from pocketbox.engine.imagebuild import new_image

        config = dict(stage.config)
        config["config"] = dict(stage.run_config)
        if not stage.config.get("architecture"):
            from pocketbox.registry.manifest import host_platform

            config.update(architecture=host_platform().architecture, os="linux")
        image_id = new_image(self.store, config, stage.layers, layer, {"created": _now(), "created_by": created_by},
                             None, {"Parent": stage.image_id, "ContainerConfig": {"Cmd": key}})
        explain.emit("build", f"image {image_id}: " + (f"one more layer, {layer[0]} (the step's upper dir)"
                                                        if layer is not None else "a new config, no new layer"),
                     "tar + gzip of the upper dir (commit's code); config blob, manifest, image record"
                     if layer is not None else "config blob, manifest, image record")
        self._use(stage, image_id)

    def _metadata(self, stage: _Stage, comment: str, change) -> None:
        """A step that changes only the config: Docker's `#(nop) ` history entry."""
        change(stage.run_config)  # (first: a SHELL's history entry is written with the new shell, as Docker)
        shell = stage.run_config.get("Shell") or DEFAULT_SHELL
        key = list(shell) + ["#(nop) ", comment]
        hit = self._cached(stage, key)
        if hit:
            self._use(stage, hit["Id"], cached=True)
            return
        self._commit(stage, key, " ".join(key))

    def _from(self, inst) -> None:
        words = inst.rest.split()
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].upper() != "AS"):
            raise BuildError("FROM requires either one or three arguments")
        name = words[2].lower() if len(words) == 3 else None
        if "platform" in inst.flags:
            self._check_platform(self._expand(inst.flags["platform"], self.meta_args))
        base = self._expand(words[0], {k: v for k, v in self.meta_args.items() if v is not None})
        stage = _Stage(name, len(self.stages))
        previous = {s.name: s for s in self.stages if s.name}
        if base.lower() in previous:
            source = previous[base.lower()]
            self.stages.append(stage)
            if source.image:
                self._use(stage, source.image_id)
            else:  # an earlier stage FROM scratch that made no image yet
                stage.config = json.loads(json.dumps(source.config))
                self.say(" ---> ")
        elif base == "scratch":
            self.stages.append(stage)
            stage.config = {"architecture": "", "os": "linux", "config": {}, "rootfs": {"type": "layers",
                                                                                  "diff_ids": []}, "history": []}
            self.say(" ---> ")
        else:
            record = self._base_image(base)
            self.stages.append(stage)
            self._use(stage, record["Id"])
        triggers = list(stage.run_config.get("OnBuild") or [])
        if triggers:
            self.say(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}")
            stage.run_config["OnBuild"] = None
            for trigger in triggers:
                inst = df.parse_instruction(trigger, 0, self.escape)
                if inst.keyword in ("ONBUILD", "FROM", "MAINTAINER"):
                    raise BuildError(f"{inst.keyword} isn't allowed as an ONBUILD trigger")
                self._dispatch(inst)

    def _base_image(self, name: str) -> dict:
        from pocketbox.engine.images import find_image

        if not self.options.pull:
            try:
                return find_image(self.store, name)
            except NotFound:
                pass
        from pocketbox.image.pull import pull

        try:
            ref = reference.parse(name)
        except Exception as e:  # noqa: BLE001 (the reference's own message)
            raise BuildError(f"invalid reference format: {e}") from None
        self.say(f"{ref.digest or ref.tag}: Pulling from {ref.path}")
        result = pull(ref)
        self.say(f"Digest: {result.manifest_digest}")
        self.say(f"Status: {'Image is up to date' if result.up_to_date else 'Downloaded newer image'} for "
                 f"{ref.familiar()}")
        return self.store.image(result.image_id)

    # metadata instructions
    def _env(self, stage, inst) -> None:
        env = self._variables(stage)
        pairs = [(self._expand(k, env), self._expand(v, env)) for k, v in inst.pairs]
        if any(not k for k, _ in pairs):
            raise BuildError("ENV names can not be blank")

        def change(config):
            current = list(config.get("Env") or [])
            for k, v in pairs:
                current = [e for e in current if e.partition("=")[0] != k] + [f"{k}={v}"]
            config["Env"] = current
        self._metadata(stage, "ENV " + " ".join(f"{k}={v}" for k, v in pairs), change)

    def _arg(self, stage, inst) -> None:
        name, default = inst.pairs[0]
        env = self._variables(stage)
        value = self._expand(default, env) if default is not None else None
        if name in self.options.build_args:
            value = self.options.build_args[name]
            self.used_args.add(name)
        elif value is None and name in self.meta_args:
            value = self.meta_args[name]
        comment = f"ARG {name}" + (f"={default}" if default is not None else "")  # (the default, as Docker)

        def change(_):
            stage.args[name] = value
        self._metadata(stage, comment, change)  # (keyed by the default: another --build-arg value hits it, as Docker)

    def _label(self, stage, inst) -> None:
        env = self._variables(stage)
        pairs = [(self._expand(k, env), self._expand(v, env)) for k, v in inst.pairs]
        if any(not k for k, _ in pairs):
            raise BuildError("LABEL names can not be blank")

        def change(config):
            config["Labels"] = {**(config.get("Labels") or {}), **dict(pairs)}
        self._metadata(stage, "LABEL " + " ".join(f"{k}={v}" for k, v in pairs), change)

    def _cmd(self, stage, inst) -> None:
        cmd = inst.json if inst.json is not None else list(stage.run_config.get("Shell") or DEFAULT_SHELL) + [inst.rest]

        def change(config):
            config["Cmd"] = cmd
            stage.cmd_set = True
        self._metadata(stage, f"CMD {_go_list(cmd)}", change)

    def _entrypoint(self, stage, inst) -> None:
        if inst.json is not None:
            ep = inst.json
        elif inst.rest:
            ep = list(stage.run_config.get("Shell") or DEFAULT_SHELL) + [inst.rest]
        else:
            ep = None

        def change(config):
            config["Entrypoint"] = ep
            if not stage.cmd_set:  # an ENTRYPOINT drops the base image's CMD
                config["Cmd"] = None
        self._metadata(stage, f"ENTRYPOINT {_go_list(ep or [])}", change)

    def _shell(self, stage, inst) -> None:
        if not inst.json:
            raise BuildError("SHELL requires at least one argument")

        def change(config):
            config["Shell"] = inst.json
        self._metadata(stage, f"SHELL [{' '.join(inst.json)}]", change)  # (Go's %v, as Docker)

    def _user(self, stage, inst) -> None:
        user = self._expand(inst.rest, self._variables(stage))
        self._metadata(stage, f"USER {user}", lambda config: config.__setitem__("User", user))

    def _stopsignal(self, stage, inst) -> None:
        from pocketbox.engine.lifecycle import parse_signal

        sig = self._expand(inst.rest, self._variables(stage))
        try:
            parse_signal(sig)
        except PocketboxError:
            raise BuildError(f"Invalid signal: {sig}") from None
        self._metadata(stage, f"STOPSIGNAL {sig}", lambda config: config.__setitem__("StopSignal", sig))

    def _maintainer(self, stage, inst) -> None:
        def change(_):
            stage.config["author"] = inst.rest
        self._metadata(stage, f"MAINTAINER {inst.rest}", change)

    def _expose(self, stage, inst) -> None:
        from pocketbox.network.ports import expose_specs

        ports = expand_words(inst.rest, self._variables(stage), self.escape)
        try:
            specs = expose_specs(ports)
        except PocketboxError as e:
            raise BuildError(str(e)) from None

        def change(config):
            config["ExposedPorts"] = {**(config.get("ExposedPorts") or {}), **specs}
        self._metadata(stage, "EXPOSE " + " ".join(sorted(ports)), change)  # (sorted, as Docker writes it)

    def _volume(self, stage, inst) -> None:
        env = self._variables(stage)
        paths = [self._expand(v, env) for v in inst.json] if inst.json is not None else \
            expand_words(inst.rest, env, self.escape)
        if not paths or any(not p.strip() for p in paths):
            raise BuildError("VOLUME specified can not be an empty string")

        def change(config):
            config["Volumes"] = {**(config.get("Volumes") or {}), **{p: {} for p in paths}}
        self._metadata(stage, f"VOLUME [{' '.join(paths)}]", change)

    def _onbuild(self, stage, inst) -> None:
        trigger = inst.rest.strip()
        word, _, rest = trigger.partition(" ")
        trigger = word.upper() + (" " + rest if rest else "")

        def change(config):
            config["OnBuild"] = list(config.get("OnBuild") or []) + [trigger]
        self._metadata(stage, f"ONBUILD {trigger}", change)

    def _healthcheck(self, stage, inst) -> None:
        from pocketbox.engine.options import InvalidOption, parse_duration

        kind, _, cmd = inst.rest.partition(" ")
        if kind.upper() == "NONE":
            check = {"Test": ["NONE"]}
        else:
            cmd = cmd.strip()
            test = ["CMD"] + inst.json if inst.json is not None else ["CMD-SHELL", cmd]
            check = {"Test": test}
            try:
                for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod")):
                    if flag in inst.flags:
                        seconds = parse_duration(inst.flags[flag], f"--{flag}")
                        if 0 < seconds < 0.001 or seconds < 0:
                            raise BuildError(f"Interval \"{flag}\" cannot be less than 1ms")
                        check[key] = int(seconds * 1e9)
            except InvalidOption as e:
                raise BuildError(str(e)) from None
            if "retries" in inst.flags:
                try:
                    check["Retries"] = int(inst.flags["retries"])
                except ValueError:
                    raise BuildError(f"invalid retries value: {inst.flags['retries']}") from None
        comment = "HEALTHCHECK &{" + _go_list(check["Test"]) + "".join(  # (Go's %q of the struct, as Docker)
            f' "{_go_duration(check.get(k, 0))}"' for k in ("Interval", "Timeout", "StartPeriod")) + \
            f" {_go_rune(check.get('Retries', 0))}}}" if check["Test"] != ["NONE"] else \
            'HEALTHCHECK &{["NONE"] "0s" "0s" "0s" \'\\x00\'}'
        self._metadata(stage, comment, lambda config: config.__setitem__("Healthcheck", check))

    # file instructions
    def _workdir(self, stage, inst) -> None:
        from pocketbox.build import filesystem

        path = self._expand(inst.rest, self._variables(stage))
        path = posixpath.normpath(posixpath.join(stage.run_config.get("WorkingDir") or "/", path))
        stage.run_config["WorkingDir"] = path
        shell = stage.run_config.get("Shell") or DEFAULT_SHELL
        key = list(shell) + [f"#(nop) WORKDIR {path}"]
        hit = self._cached(stage, key)
        if hit:
            self._use(stage, hit["Id"], cached=True)
            return

        def work(root, staging):
            os.close(filesystem.make_dirs(root, path, (0, 0)))
        layer = filesystem.change_files(self.store, stage.image, work)
        self._commit(stage, key, " ".join(key), layer)

    def _copy(self, stage, inst) -> None:
        self._copy_or_add(stage, inst, "COPY")

    def _add(self, stage, inst) -> None:
        self._copy_or_add(stage, inst, "ADD")

    def _copy_or_add(self, stage, inst, verb: str) -> None:
        from pocketbox.build import copying

        env = self._variables(stage)
        args = inst.json if inst.json is not None else inst.rest.split()
        args = [self._expand(a, env) for a in args]
        if len(args) < 2:
            raise BuildError(f"{verb} requires at least two arguments, but got {len(args)}")
        sources, dest = args[:-1], args[-1]
        workdir = stage.run_config.get("WorkingDir") or "/"
        target = posixpath.join(workdir, dest)
        if dest.endswith("/") or dest in (".", "./") or dest.endswith("/."):
            target = posixpath.normpath(target) + "/"
        else:
            target = posixpath.normpath(target)
        source_image = None
        if "from" in inst.flags:
            source_image = self._copy_source(self._expand(inst.flags["from"], env))
        plan = copying.Plan(verb, sources, target, inst.flags.get("chown"), inst.flags.get("chmod"), source_image)
        plan.resolve(self.context, self.store)
        key_text = f"{verb} {plan.checksum} in {target} "
        if "chown" in inst.flags or "chmod" in inst.flags:
            key_text = f"{verb} " + " ".join(f"--{k}={v}" for k, v in sorted(inst.flags.items()) if k != "from") + \
                       f" {plan.checksum} in {target} "
        shell = stage.run_config.get("Shell") or DEFAULT_SHELL
        key = list(shell) + ["#(nop) " + key_text]
        hit = self._cached(stage, key)
        if hit:
            plan.close()
            self._use(stage, hit["Id"], cached=True)
            return
        try:
            layer = plan.apply(self.store, stage.image)
        finally:
            plan.close()
        self._commit(stage, key, " ".join(key), layer)

    def _copy_source(self, name: str) -> dict:
        """COPY --from: an earlier stage (by name or index) or an image."""
        by_name = {s.name: s for s in self.stages[:-1] if s.name}
        if name.lower() in by_name:
            stage = by_name[name.lower()]
        elif name.isdigit():
            if int(name) >= len(self.stages) - 1:
                raise BuildError(f"invalid from flag value {name}: refers to current build stage or later")
            stage = self.stages[int(name)]
        else:
            try:
                return self._base_image(name)
            except NotFound:
                raise BuildError(f"invalid from flag value {name}: No such image: {name}") from None
        if stage.image is None:
            return {"Layers": []}
        return stage.image

    def _run(self, stage, inst) -> None:
        from pocketbox.engine.options import RunOptions
        from pocketbox.engine.spec import mount_points
        from pocketbox.engine.imagebuild import layer_from_upper

        shell = list(stage.run_config.get("Shell") or DEFAULT_SHELL)
        cmd = inst.json if inst.json is not None else shell + [inst.rest]
        args = {k: v for k, v in stage.args.items() if v is not None}
        for k in PROXY_ARGS:
            if k in self.options.build_args:
                args.setdefault(k, self.options.build_args[k])
                self.used_args.add(k)
        visible = {k: v for k, v in sorted(args.items()) if k not in PROXY_ARGS}
        key = ([f"|{len(visible)}"] + [f"{k}={v}" for k, v in visible.items()] if visible else []) + cmd
        hit = self._cached(stage, key)
        if hit:
            self._use(stage, hit["Id"], cached=True)
            return
        if stage.image is None:
            raise BuildError("The command '" + " ".join(cmd) + "' cannot run: the image has no files (FROM scratch)")
        env = list(stage.run_config.get("Env") or [])
        names = {e.partition("=")[0] for e in env}
        env += [f"{k}={v}" for k, v in args.items() if k not in names]
        options = RunOptions(image=stage.image_id, command=cmd, entrypoint="", env=env,
                             user=stage.run_config.get("User") or None,
                             workdir=stage.run_config.get("WorkingDir") or None, network=self.options.network,
                             labels=[])
        # (the image's VOLUMEs are anonymous volumes here too: what a RUN writes there is not kept, as in Docker)
        image = dict(stage.image, Config=dict(stage.run_config, Healthcheck=None))
        record = self.engine.create(options, image)
        cid = record["Id"]
        self.say(f" ---> Running in {cid[:12]}")
        explain.emit("build", f"RUN: container {cid} made from image {stage.image_id}, started as `run` starts one",
                     f"create + start {cmd}")
        try:
            code = self.engine.run(record, attach=["stdout", "stderr"], output=self.output_fd)
            if code != 0:
                raise BuildError(f"The command '{' '.join(cmd)}' returned a non-zero code: {code}", code)
            record = self.engine.find(cid)
            lowers = record["GraphDriver"]["Data"]["LowerDir"].split(":")
            layer = layer_from_upper(self.store, str(self.engine.dir(cid) / "upper"), mount_points(record), lowers)
        finally:
            self.engine.remove(cid, force=True, volumes=True)
            self.say(f"Removing intermediate container {cid[:12]}")
        self._commit(stage, key, " ".join(key), layer)



def build_image(engine, source: str, options: BuildOptions, output_fd: int, stdin=None) -> str:
    """`build`: the context and Dockerfile found, the build run; returns the image ID."""
    from pocketbox.build.context import open_context

    engine.store.clean_dead_staging(STAGING)
    context, text = open_context(source, options.dockerfile if options.dockerfile != "Dockerfile" else None,
                                 stdin, str(engine.store.staging("build-context")))
    try:
        return Builder(engine, context, options, output_fd).build(text)
    finally:
        context.close()
