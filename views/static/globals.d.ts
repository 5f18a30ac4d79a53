/**
 * The globals the pages' modules read: the two browser builds the connector serves from node_modules as classic
 * scripts (app/http/static.ts), typed from their packages. Everything else is imported between the modules.
 */
import type { B24Frame } from '@bitrix24/b24jssdk';
import type { Chart as ChartClass } from 'chart.js';

declare global {
  interface Window {
    /** b24jssdk's UMD build (/static/b24jssdk.js), present on pages inside Bitrix24. */
    B24Js?: { initializeB24Frame(): Promise<B24Frame> };
    /** Chart.js's UMD build (/static/chart.umd.min.js), present on the dashboard. */
    Chart?: typeof ChartClass;
  }
}
export {};
