"""Preview: run the program without creating anything, and compare with a stack.

Like `pulumi preview`, this declares every resource, runs the policy pack's
resource policies on it, and says what an update would change, but calls no
create. A resource the stack already has answers with its recorded id and
outputs, so that the inputs of the resources that depend on it are the real
ones and compare exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from simulator.provisioning import CloudMocks, Recorded, fingerprint, without_secrets
from simulator.provisioning.base import reveal


@dataclass
class Plan:
    """What an update of a stack would do, resource by resource (type, name)."""

    declared: list[Recorded] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def summary(self) -> str:
        parts = []
        for label, names in (
            ("to add", self.added),
            ("to change", self.changed),
            ("to remove", self.removed),
        ):
            if names:
                parts.append(f"{len(names)} {label} ({', '.join(names)})")
        return "; ".join(parts) or "no changes"


@dataclass
class PreviewMocks(CloudMocks):
    """Mocks that declare the program's resources against a recorded stack."""

    previous: list[Recorded] = field(default_factory=list)
    plan: Plan = field(default_factory=Plan)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._previous = {(r.type_, r.name): r for r in self.previous}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        if not args.custom or args.typ.startswith("pulumi:providers:"):
            return super().new_resource(args)
        inputs = {k: reveal(v) for k, v in args.inputs.items()}
        if self.validate is not None:
            self.validate(args.typ, args.name, inputs)
        digest = fingerprint(inputs, self.fingerprint_key)
        label = f"{args.name} ({args.typ.rsplit(':', 1)[-1]})"
        existing = self._previous.get((args.typ, args.name))
        with self._lock:
            if existing is None:
                self.plan.added.append(label)
                # As the provider plans a new resource: its inputs, and what
                # it computes (ids, addresses) unknown until the update.
                id_, outputs = f"preview-{args.name}", dict(args.inputs)
            else:
                if existing.fingerprint != digest:
                    self.plan.changed.append(label)
                id_, outputs = existing.id_, dict(existing.outputs)
            declared = without_secrets(args.inputs)
            # A stack policy reads outputs; the provider's include the inputs.
            seen = {**declared, **without_secrets(outputs)}
            self.plan.declared.append(
                Recorded(args.typ, args.name, id_, declared, seen, digest)
            )
        return id_, outputs

    def finish(self) -> Plan:
        declared = {(r.type_, r.name) for r in self.plan.declared}
        self.plan.removed = [
            f"{r.name} ({r.type_.rsplit(':', 1)[-1]})"
            for r in self.previous
            if (r.type_, r.name) not in declared
        ]
        return self.plan
