/** Largest body accepted anywhere: Bitrix24 forms and Xero webhooks are far smaller. */
export const BODY_LIMIT = '1mb';
