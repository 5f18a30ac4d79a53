/** The method table: name (case-insensitive) → scope + handler. Source: docs/reference/bitrix24.md#calling-rest (methods, scopes). */
import type { Answer } from './core.js';
import type { AppRegistration, Portal, User, WriteCtx } from './portal.js';

export interface CallCtx {
  portal: Portal;
  user: User;
  /** The app the call's token was issued to (app.info, scopes and handler hosts are per app). */
  app: AppRegistration;
  /** `auth_connector` of the call, passed on to writes (docs/reference/bitrix24.md#offline-events "How to avoid cycles"). */
  write: WriteCtx;
}

export type Params = Record<string, unknown>;
export type MethodFn = (p: Params, ctx: CallCtx) => Answer;
export interface MethodDef { name: string; scope: string; fn: MethodFn }

export class Registry {
  private map = new Map<string, MethodDef>();
  add(name: string, scope: string, fn: MethodFn): void {
    this.map.set(name.toLowerCase(), { name, scope, fn });
  }
  get(name: string): MethodDef | undefined {
    return this.map.get(name.toLowerCase());
  }
  names(scopes: string[] | null): string[] {
    return [...this.map.values()].filter((m) => !scopes || m.scope === 'basic' || scopes.includes(m.scope)).map((m) => m.name);
  }
  allScopes(): string[] {
    return [...new Set([...this.map.values()].map((m) => m.scope))];
  }
}
