import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { BY_APP_USER_INDEX, BY_REFRESH_EXPIRY_INDEX, FUNCTIONS, TABLES } from '../../contracts/index.js';
import { EncryptedTable, tableSchemaProps } from '../constructs/encrypted-table.js';
import { NodeLambda } from '../constructs/node-lambda.js';
import { OAuthAlarms } from '../constructs/oauth-alarms.js';
import type { SmartcarFeatureProps } from './feature-props.js';
import type { SmartcarSettings } from '../settings.js';

/**
 * Where the callback sends the owner's browser when `connectSuccessUrl`/`connectFailureUrl` are not set.
 * `.invalid` is reserved (RFC 6761) and never resolves, so unlike a placeholder such as example.com the
 * redirect (and its query string) cannot reach anybody's server. Synth warns while they are in use.
 */
export const PLACEHOLDER_CONNECT_SUCCESS_URL = 'https://connect-success-url-not-configured.invalid/';
export const PLACEHOLDER_CONNECT_FAILURE_URL = 'https://connect-failure-url-not-configured.invalid/';

export interface OAuthProps extends SmartcarFeatureProps {
  /** Encrypts the OAuth state table. */
  readonly dataKey: kms.IKey;
  /**
   * The public URL of the callback route when something fronts the API (the edge front's CloudFront URL).
   * @default the API's own callback URL
   */
  readonly publicCallbackUrl?: string;
  readonly settings: Pick<
    SmartcarSettings,
    | 'smartcarRedirectUri'
    | 'smartcarMode'
    | 'smartcarScopes'
    | 'connectSuccessUrl'
    | 'connectFailureUrl'
    | 'connectConfirmation'
    | 'connectConfirmMinutes'
  >;
}

/**
 * Smartcar Connect: `POST /connect` (IAM) → state table; Smartcar → `GET /oauth/callback` → token table (token
 * CMK) + vehicle profiles; `DELETE /vehicles/{vehicleId}` (IAM) → disconnect Lambda; and their alarms.
 */
export class OAuth extends Construct {
  readonly alarms: OAuthAlarms;
  // One Lambda per route: POST /connect, GET /oauth/callback, DELETE /vehicles/{vehicleId}.
  readonly connect: NodeLambda<'oauthConnect'>;
  readonly callback: NodeLambda<'oauthCallback'>;
  readonly disconnect: NodeLambda<'vehicleDisconnect'>;
  /** Single-use `state` records, minutes long. */
  readonly stateTable: EncryptedTable;
  /** The redirect URI registered in the Smartcar Dashboard (stack output OAuthCallbackUrl). */
  readonly redirectUri: string;

  constructor(scope: Construct, id: string, props: OAuthProps) {
    super(scope, id);
    const { api, secret, vehicleTable, tokenTable, tokenKey, settings } = props;
    const common = { metricsNamespace: props.metricsNamespace };

    this.stateTable = new EncryptedTable(this, 'OAuthStateTable', {
      ...tableSchemaProps(TABLES.oauthState),
      encryptionKey: props.dataKey,
      // Records live for minutes: safe to lose with the stack (an owner mid-Connect just starts again).
      removalPolicy: RemovalPolicy.DESTROY,
      // See the acknowledgement below.
      pointInTimeRecovery: false,
    });
    Validations.of(this.stateTable.table).acknowledge({
      id: 'AwsSolutions-DDB3',
      reason:
        'Single-use OAuth state records that expire within minutes: any restored copy would hold only ' +
        'expired or consumed states, which the callback refuses, so a restore can recover nothing; losing ' +
        'the table only makes owners in the middle of Connect start again. PITR would also keep the ' +
        'state-to-app-user bindings for 35 days after TTL deleted them.',
    });

    // The default redirect URI is this API's own callback route (through the edge front, when on: owners'
    // browsers then pass its web ACL). Its URL exists only after the first deploy, and Smartcar rejects
    // Connect until it is registered in the Dashboard: the operator copies the OAuthCallbackUrl output there
    // once (it stays stable for the life of the API, or of the distribution).
    this.redirectUri = settings.smartcarRedirectUri ?? props.publicCallbackUrl ?? api.oauthCallbackUrl;
    const connectPages = this.connectPages(settings);

    this.connect = new NodeLambda(this, 'OAuthConnect', {
      ...common,
      function: 'oauthConnect',
      entry: props.entries?.oauthConnect,
    });
    // Creates state records; it never reads, consumes or deletes them.
    this.connect.bindTable('OAUTH_STATE_TABLE_NAME', this.stateTable, ['dynamodb:PutItem']);
    // The client id for the Connect URL.
    this.connect.bindSecret('SMARTCAR_SECRET_ID', secret);
    this.connect.setEnvironment('SMARTCAR_REDIRECT_URI', this.redirectUri);
    this.connect.setEnvironment('SMARTCAR_MODE', settings.smartcarMode);
    this.connect.setEnvironment('SMARTCAR_DEFAULT_SCOPES', settings.smartcarScopes.join(','));
    // The redirect URI it hands to Smartcar must be https in AWS, like the callback's URLs.
    this.connect.setEnvironment('REQUIRE_HTTPS_URLS', 'true');
    api.addFunctionRoutes('Connect', this.connect.function, FUNCTIONS.oauthConnect.routes);

    this.callback = new NodeLambda(this, 'OAuthCallback', {
      ...common,
      function: 'oauthCallback',
      entry: props.entries?.oauthCallback,
    });
    // Consumes a state with one conditional UpdateItem (ReturnValues ALL_NEW); no Get, Put or Delete.
    this.callback.bindTable('OAUTH_STATE_TABLE_NAME', this.stateTable, ['dynamodb:UpdateItem']);
    // Puts the new (pending) grant and completes it; with confirmation off also moves vehicles between grants
    // and deletes grants left without vehicles.
    this.callback.bindTable('TOKEN_TABLE_NAME', tokenTable, [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    ]);
    // Encrypt only: the callback stores new tokens and never reads one back, so this Lambda behind a public
    // route could not decrypt the stored tokens even if it were compromised (only the refresh job decrypts).
    this.callback.bindKey('TOKEN_KEY_ID', tokenKey, ['kms:Encrypt']);
    // Reads a profile's current grant and links it (UpdateItem inside TransactWriteItems).
    this.callback.bindTable('VEHICLE_TABLE_NAME', vehicleTable, ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    // Client id and secret for the code exchange; the AMT to revoke the connections of a grant it could not store.
    this.callback.bindSecret('SMARTCAR_SECRET_ID', secret);
    this.callback.setEnvironment('SMARTCAR_REDIRECT_URI', this.redirectUri);
    this.callback.setEnvironment('CONNECT_SUCCESS_URL', connectPages.success);
    this.callback.setEnvironment('CONNECT_FAILURE_URL', connectPages.failure);
    this.callback.setEnvironment('REQUIRE_HTTPS_URLS', 'true');
    this.callback.setEnvironment(
      'CONNECT_CONFIRMATION',
      settings.connectConfirmation === 'off' ? 'off' : 'required',
    );
    this.callback.setEnvironment('CONNECT_CONFIRM_MINUTES', String(settings.connectConfirmMinutes));
    if (settings.connectConfirmation === 'off') {
      Validations.of(Stack.of(this)).addWarning(
        'smartcar:ConnectConfirmationOff',
        'connectConfirmation=off: the callback links the vehicles to the app user who started the Connect, ' +
          'whoever finished it. Anyone who gets a Connect URL of another app user (sent to them as a link) ' +
          "links their car — location, locks — to that user's account. Only for apps whose users connect " +
          'their own cars themselves, e.g. a fleet operator; see docs/design.md, "Confirmed connect".',
      );
    }
    api.addFunctionRoutes(
      'OAuthCallback',
      this.callback.function,
      FUNCTIONS.oauthCallback.routes,
      // No authorizer: this is the redirect URI the vehicle owner's browser is sent to by Smartcar, and a
      // browser navigation carries no SigV4 signature or token. The reason says what protects it.
      "Smartcar Connect's OAuth redirect: the vehicle owner's browser is sent here by Smartcar and " +
        'cannot sign with SigV4. Each request must carry a state value that the IAM-protected POST ' +
        '/connect created (256 random bits, bound to the app user, expiring within minutes); the callback ' +
        'consumes it with one conditional write before it exchanges the code, so an unknown, expired or ' +
        'replayed state is refused and nothing is stored. The code itself is useless without the client ' +
        'secret, which only the Lambda has.',
    );

    this.disconnect = new NodeLambda(this, 'VehicleDisconnect', {
      ...common,
      function: 'vehicleDisconnect',
      entry: props.entries?.vehicleDisconnect,
    });
    // Reads the vehicle's grant (its Smartcar user), removes the vehicle from it and deletes the grant once
    // empty; a user removal also lists the pending grants (the PENDING partition of byRefreshExpiry) and
    // revokes the user's. Through DynamoDB only: it never touches a token, so no use of the token key.
    this.disconnect.bindTable(
      'TOKEN_TABLE_NAME',
      tokenTable,
      ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      { queryIndexes: [BY_REFRESH_EXPIRY_INDEX] },
    );
    // A user removal finds the user's vehicles through byAppUser.
    this.disconnect.bindTable(
      'VEHICLE_TABLE_NAME',
      vehicleTable,
      ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
      { queryIndexes: [BY_APP_USER_INDEX] },
    );
    // The Application Management Token for the Management API (list and delete connections).
    this.disconnect.bindSecret('SMARTCAR_SECRET_ID', secret);
    api.addFunctionRoutes('Disconnect', this.disconnect.function, FUNCTIONS.vehicleDisconnect.routes);

    this.alarms = new OAuthAlarms(this, 'OAuthAlarms', {
      topic: props.alarmTopic,
      metricsNamespace: props.metricsNamespace,
      callbackServiceName: FUNCTIONS.oauthCallback.serviceName,
      stage: api.stage,
      connect: this.connect.function,
      callback: this.callback.function,
      disconnect: this.disconnect.function,
    });
  }

  /** The success/failure pages from the settings, else the placeholders, with a warning at synth. */
  private connectPages(settings: OAuthProps['settings']): { success: string; failure: string } {
    const unset = [
      settings.connectSuccessUrl ? undefined : 'connectSuccessUrl',
      settings.connectFailureUrl ? undefined : 'connectFailureUrl',
    ].filter((key) => key !== undefined);
    if (unset.length > 0) {
      // A warning, not an error: `cdk synth` must work offline without any context (CI), and a stack that
      // only receives webhooks does not need the pages. `cdk deploy --strict` turns it into a failure.
      Validations.of(Stack.of(this)).addWarning(
        'smartcar:ConnectPagesNotConfigured',
        `${unset.join(' and ')} not set: after Smartcar Connect, vehicle owners are sent to a placeholder ` +
          'that does not resolve. Set them to pages of your app, e.g. ' +
          '-c connectSuccessUrl=https://app.example.com/cars/connected ' +
          '-c connectFailureUrl=https://app.example.com/cars/connect-failed',
      );
    }
    return {
      success: settings.connectSuccessUrl ?? PLACEHOLDER_CONNECT_SUCCESS_URL,
      failure: settings.connectFailureUrl ?? PLACEHOLDER_CONNECT_FAILURE_URL,
    };
  }
}
