"""Writes a realistic, seeded policy workload for bench/policy: N policies over a city's departments, record categories
and a purpose hierarchy, the entity store (Cedar JSON) and requests. Both engines read the same file.

Usage: policy_workload.py POLICIES REQUESTS SEED OUT.json"""
import json
import random
import sys

count, request_count, seed, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = random.Random(seed)


def uid(t, i):
    return {"__entity": {"type": t, "id": i}}


def text(t, i):
    return f'{t}::"{i}"'


sectors = ["health", "social", "housing", "statistics", "transport", "regulators"]
departments = [f"dept_{i:02d}" for i in range(40)]
department_sector = {d: sectors[i % len(sectors)] for i, d in enumerate(departments)}
categories = [f"category_{i:02d}" for i in range(20)]
top_purposes = ["public_administration", "health_care", "research", "law_enforcement", "commercial"]
purposes = {}
for top in top_purposes:
    purposes[top] = []
    for k in range(5):
        purposes[f"{top}_{k}"] = [top]
        for j in range(2):
            purposes[f"{top}_{k}_{j}"] = [f"{top}_{k}"]
purpose_names = sorted(purposes)
leaf_purposes = [p for p in purpose_names if p.count("_") >= 3 and p[-2] == "_" and p[-4] == "_"]
actions = ["read", "aggregate", "publish", "audit"]

entities = []
for sector in sectors:
    entities.append({"uid": uid("Group", sector), "attrs": {}, "parents": [uid("Group", "government")]})
entities.append({"uid": uid("Group", "government"), "attrs": {}, "parents": []})
for d in departments:
    entities.append({"uid": uid("Department", d),
                     "attrs": {"id": d, "clearance": rng.randint(1, 5), "sector": department_sector[d],
                               "certifications": sorted(rng.sample(["iso27001", "gdpr", "pdpa", "soc2"], rng.randint(0, 3)))},
                     "parents": [uid("Group", department_sector[d])]})
for c in categories:
    entities.append({"uid": uid("Category", c),
                     "attrs": {"sensitivity": rng.randint(1, 5), "owner": uid("Department", rng.choice(departments)),
                               "fields": sorted(rng.sample(["id", "name", "birth_date", "district", "income", "diagnosis"], 3))},
                     "parents": []})
for p in purpose_names:
    entities.append({"uid": uid("Purpose", p), "attrs": {}, "parents": [uid("Purpose", q) for q in purposes[p]]})
for a in actions:
    entities.append({"uid": uid("Action", a), "attrs": {}, "parents": [uid("Action", "access")] if a in ("read", "aggregate") else []})
entities.append({"uid": uid("Action", "access"), "attrs": {}, "parents": []})

policies = []
grants = []  # (department, action, category, purpose) triples some permit covers, to aim requests at
for index in range(count):
    kind = rng.random()
    d, c = rng.choice(departments), rng.choice(categories)
    purpose = rng.choice(purpose_names)
    if kind < 0.6:
        a = rng.choice(["read", "aggregate"])
        rows = rng.choice([10, 50, 100, 500])
        policies.append(
            f'@id("grant-{index}")\n@fields("id,district,income")\n@mask("id:last4")\n@max_rows("{rows}")\n'
            f'permit (principal == {text("Department", d)}, action == {text("Action", a)}, resource == {text("Category", c)})\n'
            f'when {{ context.purpose in {text("Purpose", purpose)} && context.rows <= {rows} }};')
        grants.append((d, a, c, purpose))
    elif kind < 0.75:
        sector = rng.choice(sectors)
        policies.append(
            f'@id("sector-{index}")\n@aggregate_only("true")\n@min_cohort("10")\n'
            f'permit (principal in {text("Group", sector)}, action == Action::"aggregate", resource is Category)\n'
            f'when {{ resource.sensitivity <= principal.clearance && context.purpose in {text("Purpose", purpose)} }};')
    elif kind < 0.85:
        policies.append(
            f'@id("guard-{index}")\n'
            f'forbid (principal, action in Action::"access", resource == {text("Category", c)})\n'
            f'when {{ context.purpose in Purpose::"commercial" }}\n'
            f'unless {{ principal has certifications && principal.certifications.containsAll(["gdpr", "pdpa"]) }};')
    else:
        policies.append(
            f'@id("owner-{index}")\n'
            f'permit (principal is Department, action in [Action::"read", Action::"publish"], resource == {text("Category", c)})\n'
            f'when {{ resource.owner == principal && principal.sector like "{department_sector[d][:3]}*" }};')

requests = []
for _ in range(request_count):
    if grants and rng.random() < 0.5:
        d, a, c, purpose = rng.choice(grants)
        below = [p for p in purpose_names if p.startswith(purpose)]
        purpose = rng.choice(below)
    else:
        d, a, c, purpose = rng.choice(departments), rng.choice(actions), rng.choice(categories), rng.choice(purpose_names)
    requests.append({"principal": text("Department", d), "action": text("Action", a), "resource": text("Category", c),
                     "context": {"purpose": uid("Purpose", purpose), "rows": rng.choice([1, 10, 50, 200]),
                                 "consent": rng.random() < 0.8}})

json.dump({"policies": "\n\n".join(policies), "policy_count": count, "entities": entities, "requests": requests},
          open(out, "w"), indent=1)
