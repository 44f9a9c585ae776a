/**
 * Image names as people write them (`nginx`, `ghcr.io/acme/app`, `127.0.0.1:5000/team/app`), read
 * the way Docker reads them: the first component is a registry host when it has a `.` or a `:` or is
 * `localhost`; otherwise the image is on Docker Hub, and a one-component name is an official image
 * under `library/`. Tags and digests are not part of a name: a policy chooses the tag.
 *
 * Every check is a single pass over a bounded string (no backtracking regular expressions).
 */
import { UserError } from '../core/errors.js';
import { quote } from '../source/redact.js';

export interface ImageName {
  /** host[:port], lowercased; `docker.io` for Docker Hub. */
  readonly registry: string;
  /** The path inside the registry, e.g. `team/app` (`library/nginx` on Docker Hub). */
  readonly repository: string;
}

/** Docker Hub's name in image names; its API lives at DOCKER_HUB_API_HOST. */
export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's registry API answers. */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
/** Names Docker Hub goes by in image names and docker configs. */
const DOCKER_HUB_ALIASES = new Set([DOCKER_HUB, 'index.docker.io', 'registry-1.docker.io']);

/** The distribution spec bounds a repository name (with its registry) to 255 characters. */
const MAX_NAME_LENGTH = 255;

// Anchored, and no quantified group can match what another one does: linear time.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const PORT = /^[0-9]{1,5}$/;
const IPV6_HOST = /^\[[0-9A-Fa-f:.]{2,45}\]$/;

export function parseImageName(text: string): ImageName {
  const refuse = (reason: string): never => {
    throw new UserError(`image name ${quote(text, 100)} is not valid: ${reason}`);
  };
  if (typeof text !== 'string' || text.trim() === '') return refuse('it is empty');
  if (text.length > MAX_NAME_LENGTH) refuse(`it is longer than ${MAX_NAME_LENGTH} characters`);
  if (text.includes('://')) refuse('write it without a scheme, e.g. ghcr.io/acme/app');
  if (text.includes('@')) refuse('write it without a digest; the policy chooses the image');

  const components = text.split('/');
  const first = components[0] ?? '';
  const hasRegistry =
    components.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  let registry = hasRegistry ? checkRegistryHost(first, refuse) : DOCKER_HUB;
  const path = hasRegistry ? components.slice(1) : components;
  if (DOCKER_HUB_ALIASES.has(registry)) registry = DOCKER_HUB;

  const last = path[path.length - 1] ?? '';
  if (last.includes(':')) refuse('write it without a tag; the policy chooses the tag');
  for (const component of path) {
    if (component === '') refuse('it has an empty path component');
    if (!PATH_COMPONENT.test(component))
      refuse(
        `path component ${quote(component, 60)} must be lowercase letters and digits, separated by ".", "_", "__" or "-"`,
      );
  }
  if (registry === DOCKER_HUB && path.length === 1) path.unshift('library');
  return { registry, repository: path.join('/') };
}

/** The canonical `host/path` of a name (`docker.io/library/nginx`). */
export function formatImageName(name: ImageName): string {
  return `${name.registry}/${name.repository}`;
}

/** The host (and port) to send API requests to: Docker Hub's API is not at docker.io. */
export function apiHostOf(name: ImageName): string {
  return name.registry === DOCKER_HUB ? DOCKER_HUB_API_HOST : name.registry;
}

/** An ImageName built by hand is checked like a parsed one (it becomes a URL path); throws a UserError. */
export function checkImageName(image: ImageName): void {
  checkRegistryHost(image.registry, (reason) => {
    throw new UserError(`image registry ${quote(image.registry, 80)} is not valid: ${reason}`);
  });
  const components = image.repository.split('/');
  if (image.repository.length > MAX_NAME_LENGTH || !components.every((c) => PATH_COMPONENT.test(c)))
    throw new UserError(`image repository ${quote(image.repository, 80)} is not valid`);
}

/** `host`, `host:port`, `[v6]:port`, lowercased; refuses anything a URL parser could read otherwise. */
export function checkRegistryHost(host: string, refuse: (reason: string) => never): string {
  const lower = host.toLowerCase();
  let name = lower;
  let port: string | undefined;
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']');
    if (end < 0) refuse('its registry host has an unclosed "["');
    name = lower.slice(0, end + 1);
    const rest = lower.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) refuse('its registry host is not valid');
      port = rest.slice(1);
    }
    if (!IPV6_HOST.test(name)) refuse('its registry host is not a valid IPv6 address');
  } else {
    const colon = lower.indexOf(':');
    if (colon >= 0) {
      name = lower.slice(0, colon);
      port = lower.slice(colon + 1);
    }
    if (name.length > 253 || !name.split('.').every((label) => HOST_LABEL.test(label)))
      refuse('its registry host is not a valid host name');
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) < 1 || Number(port) > 65535))
    refuse('its registry port is not a number from 1 to 65535');
  return lower;
}
