import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Decimal } from '../app/domain/money.js';

describe('exact decimal money', () => {
  it('when 0.1 and 0.2 are added, then the sum is exactly 0.3 (a float would give 0.30000000000000004)', () => {
    assert.equal(Decimal.of('0.1').add('0.2').toString(), '0.3');
    assert.equal(Decimal.of(0.1).add(0.2).eq('0.3'), true);
  });

  it('when tax is rounded per line, then halves round away from zero', () => {
    assert.equal(Decimal.of('2.345').toFixed(2), '2.35');
    assert.equal(Decimal.of('-2.345').toFixed(2), '-2.35');
    assert.equal(Decimal.of('2.3449').toFixed(2), '2.34');
  });

  it('when a 4-dp unit price is multiplied by a quantity, then no precision is lost', () => {
    assert.equal(Decimal.of('19.9999').mul('3').toFixed(4), '59.9997');
    assert.equal(Decimal.of('1.15').mul('100').toFixed(2), '115.00');
  });

  it('when an inclusive price is split into net and tax, then net plus tax is the gross', () => {
    const gross = Decimal.of('115');
    const net = gross.div('1.15');
    assert.equal(net.toFixed(2), '100.00');
    assert.equal(gross.sub(net.round(2)).toFixed(2), '15.00');
  });

  it('when text is not a number, then it is refused by name', () => {
    assert.throws(() => Decimal.of('12abc'), /"12abc" is not a number/);
    assert.throws(() => Decimal.of(Number.NaN), /not a finite number/);
  });

  it('when numbers come in comma or exponent form, then they are read exactly', () => {
    assert.equal(Decimal.of('12,50').toFixed(2), '12.50');
    assert.equal(Decimal.of(1e-7).toString(), '0.0000001');
  });

  it('when many lines are summed, then the total equals the exact sum', () => {
    const lines = Array.from({ length: 1000 }, () => Decimal.of('0.01'));
    assert.equal(Decimal.sum(lines).toFixed(2), '10.00');
  });
});
