#!/usr/bin/env python3
"""Turns deploy/kubernetes/beed.yaml into what `podman kube play` (4.x) runs:
the ConfigMaps as they are and one Pod per DaemonSet, made of the DaemonSet's
pod template (its metadata and spec, untouched); other kinds (Namespace,
Service) are left out, podman has no use for them.

usage: pod-of.py MANIFEST POD_NAME NODE_NAME   (prints the YAML on stdout)

POD_NAME names the pod (a test runs it under a name of its own). NODE_NAME
is the one thing of the template given another way: podman 4.3 refuses the
downward API's `fieldRef: {fieldPath: spec.nodeName}` (a pod there is on no
node), so an environment variable taken from it gets NODE_NAME as its value,
as the kubelet would give it. Nothing else is changed: the test exercises the
manifest's image, command, environment, security context, probes, resources
and volumes as written.
"""
import sys

import yaml


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    manifest, pod_name, node_name = sys.argv[1:]
    with open(manifest) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    out = []
    for doc in docs:
        kind = doc.get("kind")
        if kind == "ConfigMap":
            out.append(doc)
        elif kind == "DaemonSet":
            template = doc["spec"]["template"]
            meta = dict(template.get("metadata") or {})
            meta["name"] = pod_name
            if "namespace" in doc["metadata"]:
                meta["namespace"] = doc["metadata"]["namespace"]
            spec = template["spec"]
            for container in spec.get("initContainers", []) + spec["containers"]:
                for env in container.get("env", []):
                    field = (env.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
                    if field == "spec.nodeName":
                        del env["valueFrom"]
                        env["value"] = node_name
            out.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
    if not any(d["kind"] == "Pod" for d in out):
        sys.exit(f"{manifest}: no DaemonSet")
    yaml.safe_dump_all(out, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
