// Public API of @cxloop/sdk. Hand-written: this file is the contract. The implementation is
// JSDoc-typed JavaScript checked by `npm run typecheck`; test/unit/package.test.js checks that this
// file declares exactly the methods the SDK has.

/** Free-form event properties or traits. They must be JSON-serialisable; Dates become ISO strings. */
export type Properties = Record<string, unknown>;

export interface CxloopOptions {
  /** cxloop server origin, e.g. `https://cxloop.example.com`. Default: where the SDK was loaded from, else the page's origin. */
  host?: string;
  /** Page views on load and on single-page-app navigation (pushState, replaceState, popstate, hash routes). Default `true`. */
  autoPage?: boolean;
  /** Send as soon as this many events are waiting. Default `20`. */
  flushAt?: number;
  /** Send waiting events at least this often, in ms. Default `2000`. */
  flushInterval?: number;
  /** Outbox cap per tab, in events; the oldest give way. Default `500`. */
  maxQueueEvents?: number;
  /** Outbox cap per tab, in bytes of JSON; the oldest give way. Default `256000`. */
  maxQueueBytes?: number;
  /** `'memory'` keeps the anonymous id, ids and the outbox out of localStorage (lost on reload). Default `'localStorage'`. */
  persistence?: 'localStorage' | 'memory';
  /** Hold events in memory, store nothing, until `consent(true)`; `consent(false)` drops them. Default `false`. */
  requireConsent?: boolean;
  /** Send and store nothing when Do Not Track or Global Privacy Control is on. Default `false`. */
  respectDoNotTrack?: boolean;
  /** Log to the console what is queued and sent, and why something is not. Default `false`. */
  debug?: boolean;
  /** The language of the surveys' texts and buttons: `en`, `zh-CN` or `zh-TW` (zh-HK, zh-MO, zh-Hant* mean zh-TW). Default: `navigator.language`. */
  locale?: string;
  /** The CSP nonce for the surveys bundle's script tag and, without constructable stylesheets, its `<style>`. Default: the nonce of the SDK's own script tag. */
  nonce?: string;
  /**
   * Called (besides a console warning) when events are dropped because the server refused them for
   * good: `400`/`413` for a single event, `401`/`403`/`404` (the write key or host), or a single event
   * that still fails (`500`, network error) after its retry budget while other events get through.
   */
  onError?: (error: CxloopDeliveryError) => void;
}

/** Events the server refused for good. */
export interface CxloopDeliveryError {
  /** The HTTP status; `0` for a network error. */
  status: number;
  /** The dropped events' `messageId`s. */
  messageIds: string[];
  /** The server's answer (`{code, message}`), or the network error. */
  message: string;
}

export interface CxloopUser {
  anonymousId: string;
  userId: string | null;
  groupId: string | null;
}

export interface Cxloop {
  /** The SDK version. */
  readonly version: string;
  /** Starts the SDK. Calls made before `init` wait and run after it, in order. */
  init(writeKey: string, options?: CxloopOptions): void;
  /** Who the user is; later events carry `userId`. */
  identify(userId: string, traits?: Properties): void;
  /** Updates the current user's traits. */
  identify(traits: Properties): void;
  /** The customer account the user belongs to; later events carry `context.groupId`. */
  group(accountId: string, traits?: Properties): void;
  /** Something the user did. */
  track(event: string, properties?: Properties): void;
  /** A page view. Automatic unless `autoPage: false`. */
  page(name?: string, properties?: Properties): void;
  page(properties: Properties): void;
  /** Feature usage: a `Feature Used` track event with `properties.feature = key`. */
  feature(key: string, properties?: Properties): void;
  /** Forgets the user and account (logout); a new anonymous id follows. */
  reset(): void;
  /** The user opts out: nothing is captured, stored or sent, pending events are dropped; remembered across visits. */
  optOut(): void;
  /** Undoes `optOut()`, with a new anonymous id. */
  optIn(): void;
  /** The user's answer in consent mode (`requireConsent: true`). */
  consent(granted: boolean): void;
  /** Sends what is waiting now; resolves when the outbox is empty or sending must wait (offline, backoff). Never rejects. */
  flush(): Promise<void>;
  /**
   * Shows the active survey `id` now, ignoring its triggers, sampling and throttling (it is still
   * recorded as shown). Loads the surveys bundle if needed; does nothing when no survey is active.
   */
  survey(id: string): void;
  /** Runs `callback` once the SDK is initialised (at once if it already is). */
  ready(callback: (cxloop: Cxloop) => void): void;
  /** The ids events are sent with. */
  user(): CxloopUser;
}

/** The SDK version. */
export declare const VERSION: string;

/** The default instance: `import { cxloop } from '@cxloop/sdk'`. */
export declare const cxloop: Cxloop;

/** A new, independent instance over `globalObject` (default: this window). */
export declare function createCxloop(globalObject?: typeof globalThis): Cxloop;

declare global {
  interface Window {
    /** Defined by the snippet (a stub that records calls) and then by the SDK. */
    cxloop: Cxloop;
  }
}
